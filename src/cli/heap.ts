/**
 * How the command line lets V8's old generation grow (SPEC.md §10, "Heap
 * growth"). Only the CLI calls this: a library must not change process-wide
 * V8 flags under its host.
 *
 * Why: V8 (up to at least 13.x) counts every ArrayBuffer allocated since the
 * last mark-compact against the old generation's allowance. A layer's bytes
 * pass through fresh buffers (reads, gunzip output), so with the few MB of
 * live heap a flatten has, the allowance ran out every ~16 MB of data: 85 full
 * collections for the 5-layer bench image, whose marking took ~2 s of CPU on
 * the helper threads. Letting the old generation grow to five times its live
 * size while it is small takes that to 5. Once the live old generation is
 * large (a flatten's index of 300k paths), it may grow by half of itself, so
 * the extra allowance stays within ~5 × SMALL_OLD_GEN and a large heap within
 * 1.5 × what is live.
 */
import v8 from 'node:v8';

/** Growth allowed while the old generation is small: the limit becomes (1 + 4) × its size. */
export const SMALL_HEAP_GROWING_PERCENT = 400;
/** Above this much live old generation, the growth is LARGE_HEAP_GROWING_PERCENT. */
export const SMALL_OLD_GEN = 24 * 1024 * 1024;
/**
 * Growth allowed once the old generation is large: the limit becomes 1.5 × its
 * size. V8's own rule picked factors up to 4.0 for a flatten's 65 MB index of
 * 300,000 paths (a 280 MB limit); capped, that flatten's peak RSS went from
 * 202–212 to 185–193 MB in the same time, and `hidden` from 246 to 209 MB.
 */
export const LARGE_HEAP_GROWING_PERCENT = 50;
/**
 * Not before this: changing a V8 flag changes the hash that code caches are
 * checked against, so Node's built-in modules loaded after it compile from
 * source (~30 ms on the 10k-whiteout layer); a short run has nothing to gain.
 */
const START_MS = 150;
/** How often the old generation's size is looked at. */
const CHECK_MS = 100;

/** The V8 majors known to have `--heap-growing-percent` (an unknown flag prints an error). */
function hasGrowingFlag(v8Version: string): boolean {
  const major = Number(v8Version.split('.')[0]);
  return major >= 11 && major <= 14;
}

/** `--heap-growing-percent` for an old generation of this many bytes (0 would give V8's own rule back). */
export function growingPercentFor(oldGenBytes: number): number {
  return oldGenBytes < SMALL_OLD_GEN ? SMALL_HEAP_GROWING_PERCENT : LARGE_HEAP_GROWING_PERCENT;
}

/** Bytes in the spaces that make up V8's old generation. */
function oldGenBytes(): number {
  let n = 0;
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name !== 'new_space' && s.space_name !== 'new_large_object_space') n += s.space_used_size;
  return n;
}

/**
 * Starts the tuning for this process; returns a function that stops it and
 * gives V8 its own rule back. The timer never keeps the process alive.
 */
export function tuneHeapGrowth(): () => void {
  if (!hasGrowingFlag(process.versions.v8)) return () => {};
  let current = -1;
  const apply = (percent: number): void => {
    if (percent === current) return;
    v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
    current = percent;
  };
  let timer: NodeJS.Timeout | undefined;
  const start = setTimeout(() => {
    apply(growingPercentFor(oldGenBytes()));
    timer = setInterval(() => apply(growingPercentFor(oldGenBytes())), CHECK_MS);
    timer.unref();
  }, START_MS);
  start.unref();
  return () => {
    clearTimeout(start);
    clearInterval(timer);
    if (current > 0) apply(0);
  };
}
