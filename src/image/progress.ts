/**
 * Progress on a terminal: bytes read of each layer's blob and of the whole
 * image, on one line of stderr, redrawn at most ten times a second. Nothing
 * at all when stderr is not a TTY (or with --quiet): stdout carries data.
 */
export interface Progress {
  /** A layer starts; returns the byte counter for its blob. */
  layer(label: string, size: number): (n: number) => void;
  /** Clear the line. */
  done(): void;
}

const silent: Progress = { layer: () => () => {}, done: () => {} };

/** Bytes for people: 512 B, 1.5 KiB, 20 MiB. */
export function human(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function makeProgress(total: number, enabled: boolean = process.stderr.isTTY === true): Progress {
  if (!enabled) return silent;
  let done = 0;
  let label = '';
  let layerDone = 0;
  let layerSize = 0;
  let last = 0;
  let shown = false;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    shown = true;
    const line = `${label}: ${human(layerDone)} / ${human(layerSize)}  (total ${human(done)} / ${human(total)})`;
    process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 80) - 1)}`);
  };
  return {
    layer(l, size) {
      label = l;
      layerDone = 0;
      layerSize = size;
      draw(true);
      return (n) => {
        layerDone += n;
        done += n;
        draw(false);
      };
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}
