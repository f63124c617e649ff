/** A file on disk as an entry's body (pack's walk, flatten's spool of hidden files). */
import fs from 'node:fs';
import type { ReadIntoBody } from '../tar/types.js';

const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;

/**
 * A file's bytes, read in line when asked for: as a stream of chunks (any
 * consumer), or straight into the tar writer's buffer (`readInto`). The file is
 * opened on first use and closed at its end or by `close`. As a stream, a file
 * up to 1 MiB is one read of size + 1 bytes: one that grew shows it (the tar
 * writer then fails), one that did not needs no second read to see its end.
 * (Reading big files ahead through the threadpool measured no faster: the
 * second core is busy hashing.)
 */
export class FileBody implements AsyncIterable<Buffer>, ReadIntoBody {
  private fd: number | undefined;
  private closed = false;

  constructor(
    private readonly real: Buffer,
    private readonly size: number,
  ) {}

  readInto(buf: Buffer, offset: number, length: number): number {
    if (this.fd === undefined) {
      // A body is read once: after close there is nothing to reopen.
      if (this.closed) return 0;
      this.fd = fs.openSync(this.real, READ_FLAGS);
    }
    return fs.readSync(this.fd, buf, offset, length, null);
  }

  close(): void {
    this.closed = true;
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) fs.closeSync(fd);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      const chunk = Math.min(this.size + 1, 1 << 20);
      let got = 0;
      for (;;) {
        // A fresh buffer per chunk: the consumer may keep it after we move on.
        const buf = Buffer.allocUnsafe(chunk);
        const n = this.readInto(buf, 0, chunk);
        if (n === 0) break;
        got += n;
        yield n === chunk ? buf : buf.subarray(0, n);
        if (got === this.size && n < chunk) break;
      }
    } finally {
      this.close();
    }
  }
}
