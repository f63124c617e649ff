"""Independent listing of real tars (and the tars nested in them) with Python's tarfile, as JSON."""
import json, sys, tarfile

KIND = {b'0': 'file', b'\0': 'file', b'7': 'file', b'1': 'hardlink', b'2': 'symlink', b'3': 'char', b'4': 'block', b'5': 'dir', b'6': 'fifo', b'S': 'file'}

def members(tf):
    out = []
    for m in tf.getmembers():
        name = m.name.encode('utf-8', 'surrogateescape').decode('latin1')
        size = m.size if m.type in (b'0', b'\0', b'7', b'S') or m.issparse() else 0
        out.append([name, KIND.get(m.type, '?'), size])
    return out

if sys.argv[1:] == ['-']:
    # One plain tar on standard input.
    import io
    with tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()), mode='r:') as tf:
        print(json.dumps(members(tf)))
    sys.exit(0)

result = {}
for path in sys.argv[1:]:
    with tarfile.open(path, 'r:') as outer:
        result[path] = members(outer)
        for m in outer.getmembers():
            if not m.isfile():
                continue
            try:
                with tarfile.open(fileobj=outer.extractfile(m), mode='r:*') as inner:
                    result[path + '!' + m.name] = members(inner)
            except (tarfile.ReadError, tarfile.CompressionError, EOFError, OSError):
                pass
print(json.dumps(result))
