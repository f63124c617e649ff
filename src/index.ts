/**
 * whiteout's library API: streams in, streams out. See README.md §Library.
 */
export type { Entry, EntryKind, EntryStream, Meta, ContentEntry, MarkerEntry } from './entry.js';
export { WhiteoutError, type ErrorCode, type WarningSink } from './errors.js';
export { type OverlayForm, type WhiteoutForm, defaultOverlayForm } from './overlay/forms.js';

// Whole operations.
export { unpackLayer, type UnpackOptions, type UnpackResult } from './ops/unpack.js';
export { packLayer, type PackOptions, type PackedLayer } from './ops/pack.js';
export { convertToOci, convertToOverlay, type ConvertOptions } from './ops/convert.js';

// Readers and writers, one per form, to pipe into each other.
export { readOciLayer, type LayerReadOptions } from './layer/oci-read.js';
export { writeOciLayer } from './layer/oci-write.js';
export { readOverlayTar, writeOverlayTar, type OverlayTarOptions } from './layer/overlay-tar.js';
export { readOverlayDir, type OverlayDirReadOptions } from './overlay/dir-read.js';
export { OverlayDirWriter, writeOverlayDir, type OverlayDirWriteOptions, type OverlayDirStats } from './overlay/dir-write.js';
export { OverlayView } from './overlay/lookup.js';

// Bytes.
export { readTar } from './tar/read.js';
export { writeTar } from './tar/write.js';
export { compress, decompress, detectCompression, type Compression } from './tar/compress.js';
export { digestPassThrough } from './tar/digest.js';
export type { TarHeader, TarReadEntry, TarWriteEntry } from './tar/types.js';
