/**
 * What the fuzzer found, pinned as deterministic regressions through the
 * library API: each input must end in a result or a WhiteoutError, never a
 * raw system error from deep in the writer.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WhiteoutError } from '../../src/errors.js';
import { unpackLayer } from '../../src/ops/unpack.js';
import type { WhiteoutForm } from '../../src/overlay/forms.js';
import { makeSandbox } from '../helpers/hostile-fs.js';
import * as T from '../helpers/hostile-tar.js';

const sb = makeSandbox('whiteout-findings-');
afterAll(() => sb.cleanup());

async function* bytes(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

async function outcome(layer: Buffer, whiteouts: WhiteoutForm): Promise<unknown> {
  try {
    await unpackLayer(bytes(layer), `${sb.target}-${whiteouts}`, { form: { whiteouts, userxattr: false }, name: 'finding' });
    return undefined;
  } catch (e) {
    return e;
  }
}

const describeError = (e: unknown) => (e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e));

describe('fuzzer findings', () => {
  const cases: [string, Buffer][] = [
    // symlink(2) refuses an empty target with ENOENT, which escaped as a raw system error.
    ['a symlink with an empty target', T.tar(T.symlink('l', ''))],
    // Replacing 'etc' with a hardlink removes etc/passwd, the link's own target, before link(2) runs.
    ['a hardlink that replaces the directory holding its target', T.tar(T.dir('etc'), T.file('etc/passwd', 'p'), T.hardlink('etc', 'etc/passwd'))],
  ];
  for (const [what, layer] of cases) {
    for (const form of ['device', 'xattr', 'aufs'] as const) {
      it(`${what} (${form}): a result or a WhiteoutError`, async () => {
        const e = await outcome(layer, form);
        if (e !== undefined) expect(e instanceof WhiteoutError, describeError(e)).toBe(true);
      });
    }
  }
});
