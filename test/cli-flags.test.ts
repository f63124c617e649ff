/**
 * Repeatable flags placed before the positional arguments: yargs' array options
 * swallowed the words after them, so the image went missing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, runCli, show } from './helpers/hostile-cli.js';
import { tempDir } from './helpers/entries.js';

const image = path.join(REPO, 'fixtures/example/oci');
const tmp = tempDir('whiteout-flags-');
afterAll(() => tmp.cleanup());

describe('repeatable flags before the positionals', () => {
  it('flatten --uid-map … --omit … <image> keeps the image and every repetition', async () => {
    const out = path.join(tmp.dir, 'rootfs');
    const r = await runCli(['flatten', '--uid-map', '0:100000:65536', '--gid-map', '0:200000:65536', '--omit', '3', '--omit', '4', image, '-o', out]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(/flattened 4 layers/);
    const st = fs.lstatSync(path.join(out, 'app'));
    expect([st.uid, st.gid]).toEqual([100000, 200000]);
    // Layer 3 deleted the key; with it left out the key is still there.
    expect(fs.existsSync(path.join(out, 'root/.ssh/id_rsa'))).toBe(true);
  });

  it('hidden --fail-on … --fail-on … <image> applies both policies', async () => {
    const r = await runCli(['hidden', '--fail-on', 'hidden', '--fail-on', 'secrets', image, '-q']);
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toMatch(/--fail-on hidden: /);
    expect(r.stderr).toMatch(/--fail-on secrets: /);
  });
});
