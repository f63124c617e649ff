/**
 * whiteout's library API: streams in, streams out. See README.md §Library.
 */
export type { Entry, EntryKind, EntryStream, Meta, ContentEntry, MarkerEntry } from './entry.js';
export { WhiteoutError, type ErrorCode, type WarningSink } from './errors.js';
export { type OverlayForm, type WhiteoutForm, defaultOverlayForm } from './overlay/forms.js';

// Whole operations.
export { unpackLayer, type UnpackOptions, type UnpackResult } from './ops/unpack.js';
export { packLayer, type PackOptions, type PackedLayer, type PackResult } from './ops/pack.js';
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

// Images: every format in, one list of verified layers out (SPEC.md §11).
export { openImage, openArchiveImage, type Image, type ImageLayer, type LayerEvents, type OpenImageOptions } from './image/image.js';
export { classifyInput, type Input } from './image/input.js';
export { layerEntries } from './image/layer-entries.js';
export { unpackImage, mountLine, type UnpackImageOptions, type UnpackImageResult, type UnpackedLayer } from './image/unpack.js';
export { parseDigest, formatDigest, type Digest } from './image/digest.js';
export { type Platform, parsePlatform, formatPlatform, hostPlatform } from './image/platform.js';
export { type HistoryStep, type ImageConfig, historyOfLayers } from './image/config.js';
export type { ImageFormat } from './image/resolved.js';

// The merged root filesystem.
export { flattenEntries, flattenToTar, flattenToTarFile, flattenToDir, type FlattenOptions, type FlattenStats } from './rootfs/flatten.js';
export { mergeLayers, findReplacedDirs, NeedsLookahead, type MergeLayer, type MergeOptions } from './rootfs/merge.js';
export { type IdMapping, type IdRange, parseIdRanges, mapOwners } from './rootfs/idmap.js';
export { type LayerSelection, parseLayerRange, selectLayers } from './rootfs/select.js';
export { RootfsDirWriter, type RootfsWriteOptions } from './rootfs/dir-write.js';

// Lint (SPEC.md §16).
export { checkInputs, type CheckReport, type CheckOptions, type CheckTarget } from './check/check.js';
export { RULES, type Rule, type Severity } from './check/rules.js';
export type { Finding } from './check/finding.js';

// Audit: what an image deletes but still ships, its secrets, and recovering it (SPEC.md §15).
export { auditLayers, type AuditSource, type AuditOptions, type AuditResult, type HiddenItem, type HiddenReason, type LayerStats } from './audit/audit.js';
export { auditImageLayers, type ImageAuditOptions } from './audit/audit-image.js';
export { builtinRules, type SecretRule, type Finding as SecretFinding } from './audit/secret-rules.js';
export { SecretMatcher, scanBody } from './audit/secret-scan.js';
export { parseRulesFile, loadRulesFile } from './audit/rules-file.js';
export { recoverPath, type RecoverSource, type RecoverOptions } from './audit/recover.js';
