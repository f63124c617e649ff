/**
 * The kernel as oracle: mount layer directories with the real overlayfs and
 * look. Only lowerdirs, read-only, so nothing is ever written into a layer.
 * Needs root (or, for the user-namespace variant, root to set up the
 * namespace's id maps); every entry point says plainly when it cannot run.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type RawNode, type SnapshotOptions, type TreeSnapshot, applyIgnore, snapshotDir, snapshotFromRaw } from './snapshot.js';

const run = promisify(execFile);

export type Availability = { ok: true } | { ok: false; reason: string };

export interface KernelMountOptions {
  /** Mount with `-o userxattr`: the kernel reads `user.overlay.*` instead of `trusted.overlay.*`. */
  userxattr?: boolean;
  /** Mount with `-o metacopy=on`: layers may hold files whose data is in a layer below (made by such a mount). */
  metacopy?: boolean;
}

function errorText(e: unknown): string {
  const stderr = (e as { stderr?: unknown }).stderr;
  if (typeof stderr === 'string' && stderr.trim() !== '') return stderr.trim().split('\n')[0] as string;
  return e instanceof Error ? e.message : String(e);
}

/**
 * The mount option syntax gives ':' and ',' meanings of their own, and libmount
 * reads quotes and backslashes; rather than escape for two parsers, refuse.
 */
function checkMountPath(p: string): void {
  if (/[:,\\"\n]/.test(p)) throw new Error(`cannot use '${p}' as an overlay layer: ':', ',', '\\', '"' and newlines are not allowed in the path`);
}

function mountOptions(layerDirs: readonly string[], opts: KernelMountOptions): string {
  for (const d of layerDirs) checkMountPath(d);
  return ['ro', `lowerdir=${layerDirs.join(':')}`, ...(opts.userxattr ? ['userxattr'] : []), ...(opts.metacopy ? ['metacopy=on'] : [])].join(',');
}

async function unmount(mnt: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await run('umount', [mnt]);
      return;
    } catch (e) {
      if (!/busy/i.test(errorText(e))) throw new Error(`umount ${mnt}: ${errorText(e)}`);
      // A walker that just finished may hold the mount for a moment.
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
  await run('umount', ['-l', mnt]);
}

/**
 * Mount `layerDirs` (topmost first, as in `lowerdir=`) read-only as an
 * overlay, run `fn` on the mount point, and always unmount. overlayfs needs
 * two lowers when there is no upper, so a single layer gets an empty
 * directory below it (which changes nothing that layer shows).
 */
export async function withKernelMount<T>(layerDirs: readonly string[], opts: KernelMountOptions, fn: (mountpoint: string) => Promise<T>): Promise<T> {
  if (layerDirs.length === 0) throw new Error('withKernelMount: no layers');
  const scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'whiteout-mnt-'));
  try {
    const mnt = path.join(scratch, 'm');
    await fs.promises.mkdir(mnt);
    const lowers = [...layerDirs.map((d) => path.resolve(d))];
    if (lowers.length === 1) {
      const empty = path.join(scratch, 'empty');
      await fs.promises.mkdir(empty);
      lowers.push(empty);
    }
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', mountOptions(lowers, opts), mnt]);
    } catch (e) {
      throw new Error(`mount -t overlay (${mountOptions(lowers, opts)}): ${errorText(e)}`);
    }
    try {
      return await fn(mnt);
    } finally {
      await unmount(mnt);
    }
  } finally {
    // Never recurse into a mount that is still there: remove the scratch only once it is gone.
    if (!(await isMountPoint(path.join(scratch, 'm')))) await fs.promises.rm(scratch, { recursive: true, force: true });
  }
}

async function isMountPoint(p: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([fs.promises.stat(p), fs.promises.stat(path.dirname(p))]);
    return a.dev !== b.dev;
  } catch {
    return false;
  }
}

/** Mount, snapshot the merged view, unmount. */
export async function snapshotKernelMount(layerDirs: readonly string[], opts: KernelMountOptions = {}, snap: SnapshotOptions = {}): Promise<TreeSnapshot> {
  return withKernelMount(layerDirs, opts, (mnt) => snapshotDir(mnt, snap));
}

let kernelCheck: Promise<Availability> | undefined;

/**
 * Can this process mount overlayfs? Root, overlay known to the kernel (or
 * loadable), and a trial mount that shows a lower file. Cached.
 */
export function kernelOverlayAvailable(): Promise<Availability> {
  kernelCheck ??= checkKernel();
  return kernelCheck;
}

async function checkKernel(): Promise<Availability> {
  if (process.platform !== 'linux') return { ok: false, reason: `overlayfs is Linux-only (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'mounting overlayfs needs root (run the tests as root, e.g. in a privileged container)' };
  let listed = false;
  try {
    listed = /\boverlay$/m.test(await fs.promises.readFile('/proc/filesystems', 'utf8'));
  } catch {
    // No /proc: the trial mount below decides.
  }
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'whiteout-probe-'));
  try {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await fs.promises.mkdir(a);
    await fs.promises.mkdir(b);
    await fs.promises.writeFile(path.join(a, 'probe'), 'ok');
    const seen = await withKernelMount([a, b], {}, async (mnt) => fs.promises.readFile(path.join(mnt, 'probe'), 'utf8'));
    if (seen !== 'ok') return { ok: false, reason: 'a trial overlay mount did not show its lower file' };
    return { ok: true };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { ok: false, reason: `${listed ? '' : "'overlay' is not in /proc/filesystems; "}trial mount failed: ${why}` };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

// ---- user namespaces ---------------------------------------------------------

/**
 * The walker that runs inside the user namespace. It is plain JavaScript
 * because the child is a bare `node` that cannot load this package's
 * TypeScript sources; it reports RawNode records (snapshot.ts) and ghosts as
 * one JSON document, and reads xattrs through an O_PATH descriptor so that a
 * symlink's own xattrs are read, never its target's.
 */
const CHILD_WALKER = `
import fs from 'node:fs';
import { createHash } from 'node:crypto';
const [root, xattrUrl] = process.argv.slice(-2);
const fsx = await import(xattrUrl);
const O_PATH = 0o10000000;
async function xattrs(real) {
  const out = {};
  const fh = await fs.promises.open(real, O_PATH | fs.constants.O_NOFOLLOW);
  try {
    const p = '/proc/self/fd/' + fh.fd;
    let names = [];
    try { names = await fsx.listAttributes(p); } catch (e) { if (e.code !== 'ENOTSUP' && e.code !== 'EOPNOTSUPP') throw e; }
    for (const n of names) {
      try { out[n] = (await fsx.getAttribute(p, n)).toString('hex'); }
      catch (e) { if (!['ENODATA', 'EPERM', 'EACCES'].includes(e.code)) throw e; }
    }
  } finally { await fh.close(); }
  return out;
}
const rootBuf = Buffer.from(root, 'utf8');
const raws = [], ghosts = [];
async function visit(p) {
  const real = p === '' ? rootBuf : Buffer.concat([rootBuf, Buffer.from('/' + p, 'latin1')]);
  let st;
  try { st = await fs.promises.lstat(real, { bigint: true }); }
  catch (e) { if (p !== '' && e.code === 'ENOENT') { ghosts.push(p); return; } throw e; }
  const raw = { path: p, mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: String(st.mtimeNs),
    size: Number(st.size), nlink: Number(st.nlink), inode: st.dev + ':' + st.ino, rdev: String(st.rdev),
    xattrs: st.isSocket() ? {} : await xattrs(real) };
  if (st.isFile()) raw.sha256 = createHash('sha256').update(await fs.promises.readFile(real)).digest('hex');
  if (st.isSymbolicLink()) raw.target = await fs.promises.readlink(real, { encoding: 'latin1' });
  raws.push(raw);
  if (st.isDirectory()) {
    const names = (await fs.promises.readdir(real, { encoding: 'latin1' })).sort();
    for (const n of names) await visit(p === '' ? n : p + '/' + n);
  }
}
await visit('');
process.stdout.write(JSON.stringify({ raws, ghosts }));
`;

const USERNS_TIMEOUT_MS = 120_000;

interface ChildReport {
  raws: RawNode[];
  ghosts: string[];
}

/**
 * The shell that runs inside the new namespaces: it says it is there, waits
 * until the parent has written its id maps, then mounts and walks. It must
 * wait: capabilities are computed at execve, and before the maps exist the
 * process is nobody in its namespace, so `mount` would run without them.
 */
const CHILD_SHELL = 'echo ready; read go || exit 96; mount -t overlay overlay -o "$1" "$2" || exit 97; exec "$3" --input-type=module -e "$4" -- "$2" "$5"';

/**
 * Mount `layerDirs` inside a new user and mount namespace, as a rootless
 * runtime would (the kernel then refuses trusted.* xattrs, so only the
 * userxattr forms can work), and return the snapshot taken there. The ids are
 * mapped 1:1 over the whole range, so owners read back unchanged; trusted.*
 * xattrs are invisible from inside. The mount goes away with the namespace.
 * Needs root to write the id maps of the child (newuidmap would refuse a map
 * this wide).
 */
export async function withUserNamespaceMount(layerDirs: readonly string[], opts: KernelMountOptions = { userxattr: true }, snap: SnapshotOptions = {}): Promise<TreeSnapshot> {
  if (layerDirs.length === 0) throw new Error('withUserNamespaceMount: no layers');
  const scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'whiteout-userns-'));
  try {
    // The child runs as root mapped 1:1, but be explicit: it must be able to reach the mount point.
    await fs.promises.chmod(scratch, 0o755);
    const mnt = path.join(scratch, 'm');
    await fs.promises.mkdir(mnt);
    const lowers = layerDirs.map((d) => path.resolve(d));
    if (lowers.length === 1) {
      const empty = path.join(scratch, 'empty');
      await fs.promises.mkdir(empty);
      lowers.push(empty);
    }
    const xattrUrl = pathToFileURL(createRequire(import.meta.url).resolve('fs-xattr')).href;
    const child = spawn('unshare', ['-U', '-m', '--propagation', 'private', 'sh', '-c', CHILD_SHELL, 'sh', mountOptions(lowers, opts), mnt, process.execPath, CHILD_WALKER, xattrUrl], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let ready: () => void = () => {};
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    let sawReady = false;
    child.stdout.on('data', (c: Buffer) => {
      if (!sawReady) {
        const text = Buffer.concat([...out, c]).toString('utf8');
        const nl = text.indexOf('\n');
        if (nl >= 0 && text.slice(0, nl) === 'ready') {
          sawReady = true;
          out.length = 0;
          const rest = Buffer.from(text.slice(nl + 1), 'utf8');
          if (rest.length > 0) out.push(rest);
          ready();
          return;
        }
      }
      out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    // A mount or walk that hangs must not hang the caller: the namespace dies with the child.
    const timer = setTimeout(() => child.kill('SIGKILL'), USERNS_TIMEOUT_MS);
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    }).finally(() => clearTimeout(timer));
    const first = await Promise.race([isReady.then(() => 'ready' as const), exited.then(() => 'exited' as const)]);
    if (first === 'exited') throw new Error(`unshare failed before it was ready: ${Buffer.concat(err).toString('utf8').trim()}`);
    const pid = child.pid as number;
    try {
      await fs.promises.writeFile(`/proc/${pid}/uid_map`, '0 0 4294967295\n');
      await fs.promises.writeFile(`/proc/${pid}/gid_map`, '0 0 4294967295\n');
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`cannot write the id maps of the user namespace (needs root): ${errorText(e)}`);
    }
    child.stdin.end('go\n');
    const code = await exited;
    const stderr = Buffer.concat(err).toString('utf8').trim();
    if (code === 97) throw new Error(`mount -t overlay in a user namespace (${mountOptions(lowers, opts)}): ${stderr}`);
    if (code !== 0) throw new Error(`user-namespace walker exited with ${code ?? 'a signal (killed after a timeout?)'}: ${stderr}`);
    const report = JSON.parse(Buffer.concat(out).toString('utf8')) as ChildReport;
    return applyIgnore(snapshotFromRaw(report.raws, report.ghosts), snap.ignore ?? {});
  } finally {
    await fs.promises.rm(scratch, { recursive: true, force: true });
  }
}

let usernsCheck: Promise<Availability> | undefined;

/** Can this process run withUserNamespaceMount? A trial with one small layer. Cached. */
export function userNamespaceMountAvailable(): Promise<Availability> {
  usernsCheck ??= checkUserns();
  return usernsCheck;
}

async function checkUserns(): Promise<Availability> {
  if (process.platform !== 'linux') return { ok: false, reason: 'user namespaces are Linux-only' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'writing a user namespace id map that covers every owner needs root' };
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'whiteout-probe-'));
  try {
    await fs.promises.chmod(dir, 0o755);
    const a = path.join(dir, 'a');
    await fs.promises.mkdir(a);
    await fs.promises.writeFile(path.join(a, 'probe'), 'ok');
    const snap = await withUserNamespaceMount([a], { userxattr: true });
    if (snap.nodes.get('probe')?.type !== 'file') return { ok: false, reason: 'a trial user-namespace overlay mount did not show its lower file' };
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

// ---- fuse-overlayfs ------------------------------------------------------------

/**
 * Mount `layerDirs` (topmost first) read-only with fuse-overlayfs, run `fn`,
 * and always unmount. Unlike the kernel, fuse-overlayfs reads the AUFS form
 * (`.wh.` files), so it is the oracle for `--whiteouts aufs`.
 */
export async function withFuseOverlayMount<T>(layerDirs: readonly string[], fn: (mountpoint: string) => Promise<T>): Promise<T> {
  if (layerDirs.length === 0) throw new Error('withFuseOverlayMount: no layers');
  const scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'whiteout-fuse-'));
  const mnt = path.join(scratch, 'm');
  try {
    await fs.promises.mkdir(mnt);
    const lowers = layerDirs.map((d) => path.resolve(d));
    for (const d of lowers) checkMountPath(d);
    try {
      await run('fuse-overlayfs', ['-o', `lowerdir=${lowers.join(':')}`, mnt]);
    } catch (e) {
      throw new Error(`fuse-overlayfs (lowerdir=${lowers.join(':')}): ${errorText(e)}`);
    }
    try {
      return await fn(mnt);
    } finally {
      await unmount(mnt);
    }
  } finally {
    if (!(await isMountPoint(mnt))) await fs.promises.rm(scratch, { recursive: true, force: true });
  }
}

let fuseCheck: Promise<Availability> | undefined;

/** Is fuse-overlayfs installed and able to mount here? A trial mount. Cached. */
export function fuseOverlayAvailable(): Promise<Availability> {
  fuseCheck ??= (async (): Promise<Availability> => {
    try {
      await fs.promises.access('/dev/fuse');
    } catch {
      return { ok: false, reason: '/dev/fuse is not available' };
    }
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'whiteout-probe-'));
    try {
      const a = path.join(dir, 'a');
      const b = path.join(dir, 'b');
      await fs.promises.mkdir(a);
      await fs.promises.mkdir(b);
      await fs.promises.writeFile(path.join(b, 'hidden'), 'x');
      await fs.promises.writeFile(path.join(a, '.wh.hidden'), '');
      await fs.promises.writeFile(path.join(a, 'probe'), 'ok');
      const names = await withFuseOverlayMount([a, b], (mnt) => fs.promises.readdir(mnt));
      if (names.join(',') !== 'probe') return { ok: false, reason: `a trial fuse-overlayfs mount showed [${names.join(', ')}], not [probe]` };
      return { ok: true };
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return { ok: false, reason: /ENOENT/.test(why) ? 'fuse-overlayfs is not installed' : why };
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  })();
  return fuseCheck;
}
