/**
 * Bombs with the *default* limits: memory must stay bounded however much a
 * small input expands. Each run is a real process whose peak RSS (VmHWM) is
 * read from /proc while it runs; V8's heap is also capped so that buffering a
 * whole stream in JS memory would crash rather than pass. No timing asserts.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type CliResult, flattenAvailable, runCli, show, successProblems } from '../helpers/hostile-cli.js';
import { diffSnapshots, makeSandbox, snapshot } from '../helpers/hostile-fs.js';
import * as T from '../helpers/hostile-tar.js';

/** Generous for a streaming Node process, far below what a buffered bomb needs. */
const MAX_RSS_KB = 250 * 1024;
const NODE_ARGS = ['--max-old-space-size=96'];

/** Gzip of `head` followed by `bytes` zeros, built member by member (concatenated gzip members are one stream). */
function gzipZeros(bytes: number, head: Buffer): Buffer {
  const chunk = Buffer.alloc(8 << 20);
  const member = zlib.gzipSync(chunk, { level: 9 });
  const parts: Buffer[] = [zlib.gzipSync(head)];
  for (let done = 0; done < bytes; done += chunk.length) parts.push(done + chunk.length <= bytes ? member : zlib.gzipSync(chunk.subarray(0, bytes - done)));
  return Buffer.concat(parts);
}

function bounded(args: string[]): Promise<CliResult> {
  return runCli(args, { nodeArgs: NODE_ARGS, watchMemory: true, timeoutMs: 120_000 });
}

describe('bombs under the default limits', () => {
  it('gzip: 1 GiB of zero padding after the end marker is read through in bounded memory (CVE-2017-14992)', { timeout: 120_000 }, async () => {
    const sb = makeSandbox('whiteout-bomb-');
    try {
      const layer = path.join(sb.input, 'layer.tar.gz');
      fs.writeFileSync(layer, gzipZeros(1 << 30, T.tar(T.file('a', 'a'))));
      const before = snapshot(sb.base, (rel) => rel === '' || rel === 'out' || rel.startsWith('out/'));
      const r = await bounded(['unpack', layer, '-o', sb.target]);
      expect(successProblems(r), show(r)).toEqual([]);
      expect(fs.readFileSync(path.join(sb.target, 'a'), 'utf8')).toBe('a');
      expect(r.peakRssKb, 'peak RSS not measured').toBeGreaterThan(0);
      expect(r.peakRssKb!, `peak RSS ${r.peakRssKb} kB`).toBeLessThan(MAX_RSS_KB);
      expect(diffSnapshots(before, snapshot(sb.base, (rel) => rel === '' || rel === 'out' || rel.startsWith('out/')))).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });

  it('zstd: a 256 MiB file from a 10 KB layer unpacks in bounded memory', { timeout: 120_000 }, async () => {
    const sb = makeSandbox('whiteout-bomb-');
    try {
      const size = 256 << 20;
      // Concatenated zstd frames are one stream; the test never holds the expanded bytes.
      const chunk = Buffer.alloc(8 << 20);
      const frame = T.zstd(chunk);
      const frames: Buffer[] = [T.zstd(T.header({ name: 'zeros', size }))];
      for (let done = 0; done < size; done += chunk.length) frames.push(frame);
      frames.push(T.zstd(T.END));
      const layer = path.join(sb.input, 'layer.tar.zst');
      fs.writeFileSync(layer, Buffer.concat(frames));
      const r = await bounded(['unpack', layer, '-o', sb.target, '--whiteouts', 'aufs']);
      expect(successProblems(r), show(r)).toEqual([]);
      expect(fs.statSync(path.join(sb.target, 'zeros')).size).toBe(size);
      expect(r.peakRssKb!, `peak RSS ${r.peakRssKb} kB`).toBeLessThan(MAX_RSS_KB);
    } finally {
      sb.cleanup();
    }
  });

  it('many PAX headers just under the 1 MiB limit, one per entry, do not accumulate', { timeout: 120_000 }, async () => {
    const sb = makeSandbox('whiteout-bomb-');
    try {
      const big = 'c'.repeat((1 << 20) - 64);
      const parts: Buffer[] = [];
      for (let i = 0; i < 200; i++) parts.push(T.pax([['comment', big]]), T.file(`f${i}`, ''));
      const layer = path.join(sb.input, 'layer.tar.gz');
      fs.writeFileSync(layer, zlib.gzipSync(T.tar(...parts), { level: 1 }));
      const r = await bounded(['unpack', layer, '-o', sb.target, '--whiteouts', 'aufs']);
      expect(successProblems(r), show(r)).toEqual([]);
      expect(fs.readdirSync(sb.target).length).toBe(200);
      expect(r.peakRssKb!, `peak RSS ${r.peakRssKb} kB`).toBeLessThan(MAX_RSS_KB);
    } finally {
      sb.cleanup();
    }
  });

  it('100,000 entries through convert --to overlay (two passes, a path index) stay bounded', { timeout: 120_000 }, async () => {
    const sb = makeSandbox('whiteout-bomb-');
    try {
      const parts: Buffer[] = [];
      for (let i = 0; i < 100_000; i++) parts.push(i % 10 === 0 ? T.file(`d${i % 100}/.wh.w${i}`) : T.header({ name: `d${i % 100}/f${i}`, size: 0 }));
      const layer = path.join(sb.input, 'layer.tar.gz');
      fs.writeFileSync(layer, zlib.gzipSync(T.tar(...parts), { level: 1 }));
      const out = path.join(sb.base, 'out');
      const r = await bounded(['convert', layer, '--to', 'overlay', '-o', out]);
      expect(successProblems(r), show(r)).toEqual([]);
      expect(r.peakRssKb!, `peak RSS ${r.peakRssKb} kB`).toBeLessThan(MAX_RSS_KB);
    } finally {
      sb.cleanup();
    }
  });

  it.runIf(flattenAvailable())('flatten: the same gzip padding bomb in bounded memory', { timeout: 120_000 }, async () => {
    const sb = makeSandbox('whiteout-bomb-');
    try {
      const layer = path.join(sb.input, 'layer.tar.gz');
      fs.writeFileSync(layer, gzipZeros(512 << 20, T.tar(T.file('a', 'a'))));
      const r = await bounded(['flatten', layer, '-o', sb.target]);
      expect(successProblems(r), show(r)).toEqual([]);
      expect(r.peakRssKb!, `peak RSS ${r.peakRssKb} kB`).toBeLessThan(MAX_RSS_KB);
    } finally {
      sb.cleanup();
    }
  });
});
