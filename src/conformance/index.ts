/**
 * `whiteout/conformance`: checks other projects can run in their own tests to
 * see whether a layer unpacker, packer or flattener gets whiteouts right.
 *
 * - Snapshots (`snapshotDir`, `snapshotTar`) record what a container would
 *   see in a tree; `compareSnapshots` + `formatDifferences` say how two differ.
 * - Reference models: `applyOciLayers` (image-spec changeset semantics, in
 *   memory) and `overlayLookup` (a userland overlay lookup over layer dirs).
 * - The kernel oracle: `withKernelMount` / `snapshotKernelMount` (root) and
 *   `withUserNamespaceMount` (the rootless `userxattr` forms), each behind an
 *   availability check that gives the reason when it cannot run;
 *   `withFuseOverlayMount` for the AUFS form, which only fuse-overlayfs reads.
 * - fast-check arbitraries: `layerStack` draws small, colliding layer stacks;
 *   `stackToTars` writes them as OCI tars through tar-stream.
 */
export {
  type NodeType,
  type SnapNode,
  type TreeSnapshot,
  type SnapshotIgnore,
  type SnapshotOptions,
  type Difference,
  type RawNode,
  snapshotDir,
  snapshotTar,
  snapshotFromRaw,
  applyIgnore,
  compareSnapshots,
  formatDifferences,
  formatSnapshot,
} from './snapshot.js';
export { type LayerOp, type LayerSpec, type SpecMeta, type LookupForm, applyOciLayers, overlayLookup, mergedXattrs, describeStack } from './model.js';
export {
  type Availability,
  type KernelMountOptions,
  kernelOverlayAvailable,
  withKernelMount,
  snapshotKernelMount,
  userNamespaceMountAvailable,
  withUserNamespaceMount,
  fuseOverlayAvailable,
  withFuseOverlayMount,
} from './kernel.js';
export { type LayerStackOptions, layerStack, layerSpec, fixLayer, layerToTar, stackToTars } from './arbitraries.js';
