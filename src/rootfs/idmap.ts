/**
 * `--uid-map`/`--gid-map container:host:count`, as in a user namespace's
 * uid_map: ownership is shifted while writing, so a rootfs or layer can be
 * used by a container running in that namespace. An id no range covers is an
 * error rather than a silent overflow id: it would be a file nobody owns.
 */
import type { Entry } from '../entry.js';
import { WhiteoutError } from '../errors.js';
import { display } from '../paths.js';

export interface IdRange {
  container: number;
  host: number;
  count: number;
}

export interface IdMapping {
  uids: IdRange[];
  gids: IdRange[];
}

const MAX_ID = 2 ** 32 - 1;

export function parseIdRange(text: string, flag: string): IdRange {
  const m = /^(\d+):(\d+):(\d+)$/.exec(text);
  const nums = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  const [container, host, count] = nums as [number, number, number];
  if (!m || count < 1 || container + count - 1 > MAX_ID || host + count - 1 > MAX_ID) {
    throw new WhiteoutError(flag, `'${text}' is not container:host:count (e.g. 0:100000:65536)`, 'usage');
  }
  return { container, host, count };
}

export function parseIdRanges(texts: readonly string[], flag: string): IdRange[] {
  const ranges = texts.map((t) => parseIdRange(t, flag)).sort((a, b) => a.container - b.container);
  for (let i = 1; i < ranges.length; i++) {
    const a = ranges[i - 1] as IdRange;
    const b = ranges[i] as IdRange;
    if (a.container + a.count > b.container) throw new WhiteoutError(flag, `ranges ${a.container}:${a.host}:${a.count} and ${b.container}:${b.host}:${b.count} overlap`, 'usage');
  }
  return ranges;
}

function mapId(ranges: readonly IdRange[], id: number, what: () => string): number {
  if (ranges.length === 0) return id;
  for (const r of ranges) if (id >= r.container && id < r.container + r.count) return r.host + (id - r.container);
  throw new WhiteoutError(what(), 'is not covered by the id map', 'input');
}

export function isIdentity(m: IdMapping | undefined): boolean {
  return !m || (m.uids.length === 0 && m.gids.length === 0);
}

/** Shift the owners of every content entry. Names (uname/gname) are dropped: they no longer fit the numbers. */
export async function* mapOwners<E extends Entry>(entries: AsyncIterable<E>, m: IdMapping | undefined): AsyncGenerator<E> {
  if (isIdentity(m) || !m) {
    yield* entries;
    return;
  }
  for await (const e of entries) {
    if (e.kind === 'whiteout' || e.kind === 'opaque') {
      yield e;
      continue;
    }
    const where = (kind: string, id: number) => () => `${kind} ${id} of '${display(e.path)}'`;
    const { uname: _u, gname: _g, ...rest } = e.meta;
    const meta = { ...rest, uid: mapId(m.uids, e.meta.uid, where('uid', e.meta.uid)), gid: mapId(m.gids, e.meta.gid, where('gid', e.meta.gid)) };
    yield { ...e, meta };
  }
}
