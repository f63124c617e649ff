/**
 * The OCI layer rules that sit between a reader and a writer of the overlay
 * form, written once (SPEC.md §Layer rules). A writer collects a layer's
 * whiteouts and opaque markers while its content streams past, then asks these
 * functions what to materialise once the whole layer has been seen:
 *
 * - a whiteout hides only lower layers: if the same layer adds the path, the
 *   entry stays (image-spec layer.md W6/W7);
 * - opaque markers apply first, wherever they stand in the layer (OP3);
 * - `.wh.X` plus a directory `X` in the same layer makes `X` opaque, so the
 *   lower contents do not show through (BuildKit PRs #2614/#2710, umoci 486a6a59);
 * - a whiteout inside an opaque or whited-out directory of the same layer is
 *   dropped: the directory already hides it (overlayfs.rst: "an opaque
 *   directory should not contain any whiteouts").
 */
import { ROOT, ancestors, display, parentOf } from '../paths.js';

/** What the layer itself holds at a path, as its writer sees it. */
export type PathKind = 'dir' | 'nondir' | 'absent';
export type KindOf = (path: string) => PathKind | Promise<PathKind>;

export interface WhiteoutPlan {
  /** Whiteouts to store, sorted. Their parents may still need creating. */
  whiteouts: string[];
  /** Directories the layer adds that a same-layer whiteout turns opaque. */
  madeOpaque: string[];
  /** Whiteouts that need nothing stored, and why (for `check` and warnings). */
  dropped: { path: string; reason: string }[];
}

export interface OpaquePlan {
  /** Directories to make opaque. */
  kept: string[];
  dropped: { path: string; reason: string }[];
}

/**
 * An opaque marker applies first, to the layers below; if the same layer then
 * puts a non-directory at the marker's directory or above it, that entry hides
 * everything below anyway and the marker has nothing left to do.
 */
export async function planOpaque(opaque: Iterable<string>, kindOf: KindOf): Promise<OpaquePlan> {
  const plan: OpaquePlan = { kept: [], dropped: [] };
  for (const dir of [...opaque].sort()) {
    let reason: string | undefined;
    if (dir !== ROOT) {
      for (const a of [dir, ...ancestors(dir)]) {
        if (a !== ROOT && (await kindOf(a)) === 'nondir') {
          reason = `'${display(a)}' is a non-directory in the same layer`;
          break;
        }
      }
    }
    if (reason) plan.dropped.push({ path: dir, reason });
    else plan.kept.push(dir);
  }
  return plan;
}

/**
 * Decide each whiteout's fate. `opaque` holds the layer's opaque directories
 * (already known to be directories); `kindOf` answers for the layer's content.
 */
export async function planWhiteouts(whiteouts: Iterable<string>, opaque: ReadonlySet<string>, kindOf: KindOf): Promise<WhiteoutPlan> {
  const all = new Set(whiteouts);
  const plan: WhiteoutPlan = { whiteouts: [], madeOpaque: [], dropped: [] };
  // Why everything below a directory is dropped (or undefined), per directory: a layer's whiteouts share
  // few parents, and walking each one's ancestors (a generator and an await per step) was ~25 ms of
  // unpacking 10,000 whiteouts. kindOf is awaited only when it returns a promise, for the same reason.
  const under = new Map<string, string | undefined>();
  const reasonUnder = async (dir: string): Promise<string | undefined> => {
    if (under.has(dir)) return under.get(dir);
    let reason: string | undefined;
    if (opaque.has(dir)) reason = `inside opaque directory '${display(dir)}'`;
    else if (dir !== ROOT && all.has(dir)) reason = `inside whited-out '${display(dir)}'`;
    else if (dir !== ROOT) {
      const k = kindOf(dir);
      if ((typeof k === 'string' ? k : await k) === 'nondir') reason = `under '${display(dir)}', which the same layer adds as a non-directory`;
    }
    if (reason === undefined && dir !== ROOT) reason = await reasonUnder(parentOf(dir));
    under.set(dir, reason);
    return reason;
  };
  for (const path of [...all].sort()) {
    const parent = parentOf(path);
    let reason = under.has(parent) ? under.get(parent) : await reasonUnder(parent);
    if (!reason) {
      const got = kindOf(path);
      const k = typeof got === 'string' ? got : await got;
      if (k === 'dir') {
        plan.madeOpaque.push(path);
        continue;
      }
      if (k === 'nondir') reason = 'the same layer adds it, so it stays';
    }
    if (reason) plan.dropped.push({ path, reason });
    else plan.whiteouts.push(path);
  }
  return plan;
}
