/**
 * flatten = the image-spec model, on random stacks: every stack the
 * conformance arbitraries draw (colliding names, implied parents, type
 * changes, whiteouts, opaque markers, hardlinks, root entries), flattened to a
 * tar and to a directory, must be exactly the tree applyOciLayers builds.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { type LayerOp, type LayerSpec, applyOciLayers, compareSnapshots, describeStack, formatDifferences, layerStack, stackToTars } from '../../src/conformance/index.js';
import { fcParams } from '../properties/harness.js';
import { flattenDirSnapshot, flattenTarSnapshot, memoryLayers, rmrf, tempBase } from './helpers.js';


describe('flatten = OCI model (random stacks)', () => {
  it('as a tar and as a directory', async () => {
    const base = tempBase();
    try {
      await fc.assert(
        fc.asyncProperty(layerStack({ maxLayers: Number(process.env.FC_LAYERS ?? 4), maxOps: Number(process.env.FC_OPS ?? 8) }), async (stack) => {
          await flattenMatchesModel(stack, base, true);
        }),
        fcParams(200),
      );
    } finally {
      rmrf(base);
    }
  }, 600_000);
});

/** Flatten the stack to a tar (and, with `dir`, to a directory): each must be the OCI model's tree; throws the differences. */
async function flattenMatchesModel(stack: LayerSpec[], base: string, dir: boolean): Promise<void> {
  const layers = memoryLayers(await stackToTars(stack));
  const model = applyOciLayers(stack);
  const { snap: tar } = await flattenTarSnapshot(layers, base);
  const problems: string[] = [];
  const d1 = compareSnapshots(model, tar, ['OCI model', 'flatten tar']);
  if (d1.length) problems.push(`tar:\n${formatDifferences(d1)}`);
  if (dir) {
    const d2 = compareSnapshots(model, await flattenDirSnapshot(layers, base), ['OCI model', 'flatten dir']);
    if (d2.length) problems.push(`dir:\n${formatDifferences(d2)}`);
  }
  if (problems.length) throw new Error(`${problems.join('\n')}\n--- stack ---\n${describeStack(stack)}`);
}

/**
 * The arbitraries write one entry per name; real tars sometimes repeat one
 * (layer.md D2 says they must not). A later entry replaces the earlier one
 * (X1), so the model applies them in order: append copies of some entries,
 * with other metadata and content, to layers the arbitraries drew.
 */
function withRepeats(stack: LayerSpec[], picks: number[]): LayerSpec[] {
  return stack.map((layer, i) => {
    const content = layer.filter((op) => op.op === 'file' || op.op === 'dir' || op.op === 'symlink');
    if (content.length === 0) return layer;
    const n = picks[i % picks.length] ?? 0;
    const extra: LayerOp[] = [];
    for (let j = 0; j < n % 3; j++) {
      const op = content[(n + j * 7) % content.length] as LayerOp;
      if (op.op === 'file') extra.push({ ...op, content: Buffer.from(`again ${j}`), mode: 0o600, mtime: 7 });
      else if (op.op === 'dir') extra.push({ ...op, mode: 0o711, uid: 1000, mtime: 8 });
      else if (op.op === 'symlink') extra.push({ op: 'file', path: op.path, content: Buffer.from('was a link'), mode: 0o644, uid: 0, gid: 0, mtime: 9 });
    }
    return [...layer, ...extra];
  });
}

describe('flatten = OCI model, with names repeated in a layer and device nodes', () => {
  it('as a tar and as a directory', async () => {
    const base = tempBase();
    try {
      await fc.assert(
        fc.asyncProperty(layerStack({ maxLayers: 4, maxOps: 8, nodes: true }), fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 4 }), async (drawn, picks) => {
          await flattenMatchesModel(withRepeats(drawn, picks), base, process.getuid?.() === 0);
        }),
        fcParams(200),
      );
    } finally {
      rmrf(base);
    }
  }, 600_000);
});
