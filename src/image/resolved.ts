/**
 * What the format readers hand over: one chosen image, its config document
 * and where each layer's blob is, before anything is read from the layers.
 */
import type { Digest } from './digest.js';
import type { Archive } from './archive.js';
import type { Platform } from './platform.js';
import { readVerified } from './verify.js';
import { WhiteoutError } from '../errors.js';
import { display } from '../paths.js';

export type ImageFormat = 'oci-layout' | 'docker-archive' | 'layers';

export interface LayerSource {
  /** Archive member holding the blob. */
  member: string;
  mediaType?: string;
  /** The blob's digest, when a descriptor or the blob's name gives one. */
  digest?: Digest;
  /** The blob's size per its descriptor. */
  size?: number;
}

export interface ResolvedImage {
  format: ImageFormat;
  /** The reference it was chosen by, or its only one. */
  ref?: string;
  manifestDigest?: string;
  /** `os/arch[/variant]`, when the index or config says. */
  platform?: string;
  config: Buffer;
  configDigest?: string;
  layers: LayerSource[];
}

export interface Selection {
  /** `--ref`. */
  ref?: string;
  /** `--platform`, parsed. */
  platform?: Platform;
}

/** JSON documents are small; anything bigger is not one we should parse. */
export const MAX_DOCUMENT = 32 << 20;

/** Read a whole archive member, verifying digest and size when known. */
export async function readMember(archive: Archive, member: string, what: string, digest?: Digest, size?: number): Promise<Buffer> {
  if ((await archive.size(member)) === undefined) {
    throw new WhiteoutError(archive.what, `${what} ('${display(member)}') is missing`, 'input');
  }
  return readVerified(archive.open(member), { what: `${archive.what}: ${what}`, ...(digest ? { digest } : {}), ...(size !== undefined ? { size } : {}) }, MAX_DOCUMENT);
}
