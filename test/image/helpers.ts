/** Build small images in temp dirs: OCI layouts and `docker save` archives, written by hand (tar-stream for tars). */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

export const realImages = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'real-images');
export const fixtures = path.resolve(import.meta.dirname, '..', '..', 'fixtures');
export const hasRealImages = fs.existsSync(path.join(realImages, 'INDEX.md'));

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function tempDir(prefix = 'whiteout-image-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmrf(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

export interface TarFile {
  name: string;
  content?: Buffer | string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  mode?: number;
}

/** A tar written by tar-stream: an independent encoder. */
export async function makeTar(files: readonly TarFile[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: Buffer) => chunks.push(c));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const f of files) {
    const type = f.type ?? 'file';
    const body = type === 'file' ? Buffer.from(f.content ?? '') : undefined;
    await new Promise<void>((resolve, reject) => {
      pack.entry(
        { name: f.name, type, mode: f.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: new Date(1_700_000_000_000), uid: 0, gid: 0, ...(f.linkname ? { linkname: f.linkname } : {}) },
        body,
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface LayoutLayer {
  /** Uncompressed tar. */
  tar: Buffer;
  gzip?: boolean;
  mediaType?: string;
}

export interface LayoutImage {
  layers: LayoutLayer[];
  platform?: { os: string; architecture: string; variant?: string };
  ref?: string;
  history?: unknown[];
  /** Edit the config before it is stored. */
  config?: (c: Record<string, unknown>) => void;
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: unknown;
  annotations?: Record<string, string>;
}

function putBlob(dir: string, data: Buffer): string {
  const hex = sha256(data);
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), data);
  return `sha256:${hex}`;
}

function putJson(dir: string, v: unknown, mediaType: string): Desc {
  const data = Buffer.from(JSON.stringify(v));
  return { mediaType, digest: putBlob(dir, data), size: data.length };
}

/** Write one image's blobs into `dir`; returns its manifest descriptor. */
export function writeImage(dir: string, img: LayoutImage): Desc {
  const layers = img.layers.map((l) => {
    const blob = l.gzip ? gzipSync(l.tar) : l.tar;
    return { mediaType: l.mediaType ?? `application/vnd.oci.image.layer.v1.tar${l.gzip ? '+gzip' : ''}`, digest: putBlob(dir, blob), size: blob.length };
  });
  const platform = img.platform ?? { os: 'linux', architecture: 'amd64' };
  const config: Record<string, unknown> = {
    ...platform,
    rootfs: { type: 'layers', diff_ids: img.layers.map((l) => `sha256:${sha256(l.tar)}`) },
    history: img.history ?? img.layers.map((_, i) => ({ created_by: `step ${i}` })),
  };
  img.config?.(config);
  const cdesc = putJson(dir, config, 'application/vnd.oci.image.config.v1+json');
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cdesc, layers };
  const mdesc = putJson(dir, manifest, 'application/vnd.oci.image.manifest.v1+json');
  return { ...mdesc, platform, ...(img.ref ? { annotations: { 'org.opencontainers.image.ref.name': img.ref } } : {}) };
}

/** An OCI layout holding `images` (each listed in index.json). */
export function writeLayout(dir: string, images: readonly LayoutImage[]): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests = images.map((img) => writeImage(dir, img));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
}

export function readIndex(dir: string): { manifests: Desc[] } & Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
}

export function writeIndex(dir: string, index: unknown): void {
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
}

export function blobFile(dir: string, digest: string): string {
  return path.join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

export function readBlobJson<T>(dir: string, digest: string): T {
  return JSON.parse(fs.readFileSync(blobFile(dir, digest), 'utf8')) as T;
}

/** Tar a directory (GNU tar, names relative to it). */
export function tarDir(dir: string, out: string): void {
  execFileSync('tar', ['-C', dir, '-cf', out, '.']);
}

export function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
