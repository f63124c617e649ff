/** Progress goes to stderr only when asked (a TTY), and is cleared at the end. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeProgress } from '../../src/image/progress.js';

afterEach(() => vi.restoreAllMocks());

describe('progress', () => {
  it('draws bytes done of the layer and of the total, then clears the line', () => {
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      writes.push(String(s));
      return true;
    });
    const p = makeProgress(3 * 1024 * 1024, true);
    const count = p.layer('layer 0', 2 * 1024 * 1024);
    count(1024 * 1024);
    p.done();
    expect(writes[0]).toMatch(/layer 0: 0 B \/ 2\.0 MiB {2}\(total 0 B \/ 3\.0 MiB\)/);
    expect(writes.at(-1)).toBe('\r\x1b[K');
  });

  it('says nothing when not enabled', () => {
    const spy = vi.spyOn(process.stderr, 'write');
    const p = makeProgress(100, false);
    p.layer('x', 10)(5);
    p.done();
    expect(spy).not.toHaveBeenCalled();
  });
});
