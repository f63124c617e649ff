/** Shared by the audit tests: the CLI as a user runs it, and GNU tar as an independent reader of layers. */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtures, realImages } from '../image/helpers.js';

export const bin = path.resolve(import.meta.dirname, '..', '..', 'bin', 'whiteout.js');
export const built = fs.existsSync(path.resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js'));
if (!built) console.warn('SKIPPED: audit CLI tests: dist/ is not built (run npx tsc -p tsconfig.json)');

export const dive = path.join(realImages, 'dive', 'test-docker-image.tar');
export const helloWorld = path.join(realImages, 'go-containerregistry', 'hello-world-v25.tar');
export const exampleOci = path.join(fixtures, 'example', 'oci');
export const exampleDocker = path.join(fixtures, 'example', 'docker-archive.tar');

export interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function run(args: string[], opts: { input?: Buffer; cwd?: string } = {}): Run {
  const r = spawnSync(process.execPath, [bin, ...args], { input: opts.input, cwd: opts.cwd, maxBuffer: 256 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

export interface JsonItem {
  path: string;
  layer: number;
  diffID?: string;
  type: string;
  size: number;
  reason: 'whiteout' | 'opaque' | 'overwritten';
  hiddenBy: number;
  createdBy?: string;
  target?: string;
  visibleAs?: string;
  secrets: { rule: string; match: 'name' | 'content' }[];
}

export interface JsonReport {
  image: string;
  layers: { index: number; diffID?: string; entries: number; bytes: number; hidden: number; wastedBytes: number; efficiency: number }[];
  hidden: JsonItem[];
  wastedBytes: number;
  totalBytes: number;
  efficiency: number;
  secrets: number;
}

export function hiddenJson(args: string[]): JsonReport {
  const r = run(['hidden', '--json', ...args]);
  if (r.code !== 0) throw new Error(`whiteout hidden ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.toString('utf8')) as JsonReport;
}

function sh(script: string, ...args: string[]): Buffer {
  return execFileSync('sh', ['-c', script, 'sh', ...args], { maxBuffer: 256 << 20 });
}

/** Layer members of a `docker save` tar, bottom first, from its manifest.json (read by GNU tar). */
export function dockerLayers(archive: string): string[] {
  const m = JSON.parse(sh('tar -xOf "$1" manifest.json', archive).toString('utf8')) as { Layers: string[] }[];
  return (m[0] as { Layers: string[] }).Layers;
}

/** Layer blobs of an OCI layout directory, bottom first. */
export function ociLayers(dir: string): string[] {
  const blob = (d: string) => path.join(dir, 'blobs', 'sha256', d.replace(/^sha256:/, ''));
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(fs.readFileSync(blob((index.manifests[0] as { digest: string }).digest), 'utf8')) as { layers: { digest: string }[] };
  return manifest.layers.map((l) => blob(l.digest));
}

/** One layer as GNU tar extracts it (into a temp dir): an independent reader of the bytes and sizes. */
export class GnuLayer {
  readonly dir: string;

  /** `archive` + `member`: a layer inside a `docker save` tar; `archive` alone: a layer blob (GNU tar detects gzip). */
  constructor(archive: string, member?: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-gnu-'));
    if (member === undefined) execFileSync('tar', ['-xf', archive, '-C', this.dir]);
    else sh('tar -xOf "$1" "$2" | tar -xf - -C "$3"', archive, member, this.dir);
  }

  file(p: string): Buffer {
    return fs.readFileSync(path.join(this.dir, p));
  }

  size(p: string): number {
    return fs.lstatSync(path.join(this.dir, p)).size;
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
