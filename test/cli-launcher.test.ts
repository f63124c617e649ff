/**
 * bin/whiteout, the command users run (package.json `bin`): it starts Node
 * without NODE_EXTRA_CA_CERTS, with no more threadpool threads than cores
 * (SPEC.md §10), and passes every argument through unchanged, also when called
 * through a symlink, as npm installs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from './helpers/hostile-cli.js';
import { tempDir } from './helpers/entries.js';

const LAUNCHER = path.join(REPO, 'bin/whiteout');
const tmp = tempDir('whiteout-launcher-');
afterAll(() => tmp.cleanup());

// A bundle that does not exist: Node says so on stderr whenever it tries to read it.
const env = { ...process.env, NODE_EXTRA_CA_CERTS: path.join(tmp.dir, 'no-such-bundle.pem') };
const CERT_WARNING = /extra certs/i;

describe('the launcher', () => {
  it('is the package bin, and executable', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['whiteout']).toBe('bin/whiteout');
    fs.accessSync(LAUNCHER, fs.constants.X_OK);
  });

  it('starts Node without the extra CA bundle, which node on whiteout.js reads', () => {
    const direct = spawnSync(process.execPath, [path.join(REPO, 'bin/whiteout.js'), '--version'], { env });
    expect(direct.stderr.toString()).toMatch(CERT_WARNING);
    const launched = spawnSync(LAUNCHER, ['--version'], { env });
    expect(launched.status, launched.stderr.toString()).toBe(0);
    expect(launched.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(launched.stderr.toString()).not.toMatch(CERT_WARNING);
  });

  it('works through a symlink and passes arguments through unchanged', () => {
    const link = path.join(tmp.dir, 'bin', 'whiteout');
    fs.mkdirSync(path.dirname(link));
    fs.symlinkSync(LAUNCHER, link);
    const odd = path.join(tmp.dir, 'a b $HOME "q" é');
    const r = spawnSync(link, ['unpack', odd, '-o', path.join(tmp.dir, 'out')], { env });
    expect(r.status).toBe(1);
    // The path arrives as one argument, unexpanded: the error names it whole.
    expect(r.stderr.toString()).toContain(odd);
    expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);
  });

  it('sizes the thread pools to a machine of fewer than 4 cores, and keeps a libuv size the user set', () => {
    // A `node` first on PATH that only reports what the launcher handed it: the libuv size and its first argument.
    const bin = path.join(tmp.dir, 'fake-node');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'node'), '#!/bin/sh\necho "${UV_THREADPOOL_SIZE-unset} $1"\n', { mode: 0o755 });
    const run = (extra: Record<string, string>) => {
      const e: Record<string, string | undefined> = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, ...extra };
      if (!('UV_THREADPOOL_SIZE' in extra)) delete e['UV_THREADPOOL_SIZE'];
      return execFileSync(LAUNCHER, ['--version'], { env: e }).toString().trim();
    };
    const cores = Number(execFileSync('nproc').toString().trim());
    const script = path.join(REPO, 'bin/whiteout.js');
    if (cores < 4) {
      const v8 = `--v8-pool-size=${Math.max(1, cores - 1)}`;
      expect(run({})).toBe(`${cores} ${v8}`);
      expect(run({ UV_THREADPOOL_SIZE: '7' })).toBe(`7 ${v8}`);
    } else {
      // Node's own sizes: nothing set, no flag.
      expect(run({})).toBe(`unset ${script}`);
      expect(run({ UV_THREADPOOL_SIZE: '7' })).toBe(`7 ${script}`);
    }
  });
});
