/**
 * The off-heap path index (src/path-index.ts) behaves as a Map from path to id
 * under any sequence of adds and removals: ids are stable while a path stays,
 * a removed path is gone, a reused id reads back its new path, and the arena's
 * chunk ends, keys longer than a chunk and compaction lose nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PathIndex, ensureLength } from '../src/path-index.js';
import { fcParams } from './properties/harness.js';

/** Byte strings over a small alphabet (so paths repeat), with a non-ASCII byte and the empty root; and a few
 * nested paths often, so that parents are added, removed and found again under their children. */
const NESTED = ['a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/bb', 'a//b', 'a/', '/a', 'b/a/b', ''];
const path = fc.oneof(fc.stringMatching(/^[ab/\xe9\xff]{0,6}$/), fc.constantFrom(...NESTED));

type Op = { op: 'add' | 'remove' | 'removeId' | 'find'; p: string };
const op: fc.Arbitrary<Op> = fc.record({ op: fc.constantFrom('add', 'remove', 'removeId', 'find'), p: path }) as fc.Arbitrary<Op>;

/** The leading paths of `p` at each '/', then `p`: 'a//b' has 'a', 'a/', 'a//b'. */
function leading(p: string): string[] {
  const out: string[] = [];
  for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) out.push(p.slice(0, i));
  out.push(p);
  return out;
}

/** The walk finds each leading path that is in the index or holds one, root first, and stops at the first that is neither. */
function expectLineage(ix: PathIndex, model: Map<string, number>, p: string): void {
  if (p === '') return;
  const held = (q: string) => [...model.keys()].some((k) => k === q || k.startsWith(`${q}/`));
  const want = leading(p);
  let n = 0;
  while (n < want.length && held(want[n]!)) n++;
  expect(ix.lineage(p)).toBe(n);
  for (let i = 0; i < n; i++) {
    expect(ix.lineageEnd(i)).toBe(want[i]!.length);
    const id = ix.lineageId(i);
    expect(ix.has(id) ? id : -1).toBe(model.get(want[i]!) ?? -1);
  }
}

/** Every path the index holds, read back through its ids. */
function contents(ix: PathIndex): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ix.ids()) m.set(ix.pathOf(id), id);
  return m;
}

describe('PathIndex', () => {
  it('agrees with a Map under any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const ix = new PathIndex();
        const model = new Map<string, number>();
        for (const { op: o, p } of ops) {
          if (o === 'add') {
            const id = ix.add(p);
            if (model.has(p)) expect(id).toBe(model.get(p));
            else expect([...model.values()]).not.toContain(id);
            model.set(p, id);
          } else if (o === 'remove') {
            ix.remove(p);
            model.delete(p);
          } else if (o === 'removeId') {
            const id = model.get(p);
            if (id !== undefined) {
              ix.removeId(id);
              model.delete(p);
              expect(ix.has(id)).toBe(false);
            }
          }
          // After every step, as the callers ask: each path's walk down its names, and a prefix of every path.
          for (const q of [p, ...NESTED]) expectLineage(ix, model, q);
          // 'a/' first and last: the next step asks first what this one asked last (the index remembers a prefix's directory).
          for (const prefix of ['a/', p, `${p}/`, 'a/b/', '', 'a/']) for (const [q, id] of model) expect(ix.startsWith(id, prefix)).toBe(q.startsWith(prefix));
          expect(ix.find(p)).toBe(model.get(p) ?? -1);
        }
        expect(ix.size).toBe(model.size);
        expect(contents(ix)).toEqual(model);
        for (const [p, id] of model) expect(ix.find(p)).toBe(id);
      }),
      fcParams(300),
    );
  });

  it('keeps 200,000 paths through table growth, and drops half of them', () => {
    const ix = new PathIndex();
    const ids: number[] = [];
    for (let i = 0; i < 200_000; i++) ids.push(ix.add(`usr/lib/d${i % 97}/f${i}`));
    expect(new Set(ids).size).toBe(200_000);
    for (let i = 0; i < 200_000; i += 2) ix.remove(`usr/lib/d${i % 97}/f${i}`);
    expect(ix.size).toBe(100_000);
    for (let i = 0; i < 200_000; i++) expect(ix.find(`usr/lib/d${i % 97}/f${i}`)).toBe(i % 2 ? ids[i] : -1);
  });

  it('stores keys across chunk ends, longer than a chunk, and after compaction', () => {
    const ix = new PathIndex();
    // 300-byte keys do not divide a 1 MiB chunk: some land at a chunk's very end, the next in a new one.
    const keys = Array.from({ length: 12_000 }, (_, i) => `${String(i).padStart(6, '0')}/${'x'.repeat(293)}`);
    const big = `big/${'\xff'.repeat((1 << 20) + 5)}`;
    const ids = keys.map((k) => ix.add(k));
    const bigId = ix.add(big);
    const after = ix.add('after/big');
    expect(ix.pathOf(bigId)).toBe(big);
    expect(ix.pathOf(after)).toBe('after/big');
    // Removing most keys leaves more dead bytes than live ones: the arena is compacted, ids stay.
    for (let i = 0; i < keys.length; i++) if (i % 10) ix.removeId(ids[i]!);
    for (let i = 0; i < keys.length; i += 10) {
      expect(ix.pathOf(ids[i]!)).toBe(keys[i]);
      expect(ix.find(keys[i]!)).toBe(ids[i]);
    }
    expect(ix.find(big)).toBe(bigId);
    expect(ix.pathOf(after)).toBe('after/big');
    expect(ix.find(keys[1]!)).toBe(-1);
    // Freed ids are handed out again, with their new paths.
    const reused = ix.add('new/one');
    expect(ids).toContain(reused);
    expect(ix.pathOf(reused)).toBe('new/one');
  });

  it('tells whether a path starts with a prefix, byte by byte', () => {
    const ix = new PathIndex();
    const a = ix.add('d/x\xe9');
    const b = ix.add('dd');
    const root = ix.add('');
    expect([ix.startsWith(a, 'd/'), ix.startsWith(b, 'd/'), ix.startsWith(a, 'd/x\xe9'), ix.startsWith(a, 'd/x\xe9/')]).toEqual([true, false, true, false]);
    expect([ix.startsWith(root, ''), ix.startsWith(root, 'd')]).toEqual([true, false]);
  });

  it('grows value arrays to hold an id', () => {
    const a = new Float64Array(4);
    a[3] = 1.5;
    const b = ensureLength(a, 9);
    expect(b.length).toBe(16);
    expect(b[3]).toBe(1.5);
    expect(ensureLength(b, 16)).toBe(b);
  });
});
