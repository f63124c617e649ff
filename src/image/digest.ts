/**
 * Content digests (image-spec descriptor.md §Digests). A digest read from an
 * image names a file (`blobs/<alg>/<hex>`), so its form is checked before it
 * goes anywhere near a path: `sha256:../../x` must never reach the file system
 * (CVE-2024-3727).
 */
import { WhiteoutError } from '../errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex, 64 or 128 digits. */
  hex: string;
}

const FORMS: Record<DigestAlgorithm, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

/** Parse and validate `alg:hex`; `what` names where it was found. */
export function parseDigest(value: unknown, what: string): Digest {
  if (typeof value !== 'string') throw new WhiteoutError(what, 'digest is missing or not a string', 'input');
  const i = value.indexOf(':');
  const alg = i < 0 ? '' : value.slice(0, i);
  const hex = value.slice(i + 1);
  if (alg !== 'sha256' && alg !== 'sha512') {
    // The grammar allows other algorithms; we can verify only these two, and an unverified blob is not read.
    const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
    throw new WhiteoutError(what, `unsupported or malformed digest ${shown} (need sha256:<64 hex> or sha512:<128 hex>)`, 'input');
  }
  if (!FORMS[alg].test(hex)) {
    const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
    throw new WhiteoutError(what, `malformed digest ${shown}: the ${alg} part must be ${alg === 'sha256' ? 64 : 128} lowercase hex digits`, 'unsafe');
  }
  return { algorithm: alg, hex };
}

export function formatDigest(d: Digest): string {
  return `${d.algorithm}:${d.hex}`;
}

/** Where an OCI layout keeps a blob (image-layout.md §Blobs). Only ever built from a parsed digest. */
export function blobPath(d: Digest): string {
  return `blobs/${d.algorithm}/${d.hex}`;
}

/** A 64-hex sha256 at the start of a file name (`<hex>.json`, `<hex>.tar.gz`, `sha256:<hex>`), if any. */
export function digestInName(name: string): Digest | undefined {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const m = /^(?:sha256:)?([a-f0-9]{64})(?:\.json)?$/.exec(base);
  return m ? { algorithm: 'sha256', hex: m[1] as string } : undefined;
}

/** A descriptor's `size`: a non-negative safe integer (descriptor.md). */
export function parseSize(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new WhiteoutError(what, `size ${JSON.stringify(value)} is not a non-negative integer`, 'input');
  }
  return value;
}
