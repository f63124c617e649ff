/**
 * Platforms (`os/arch[/variant]`, image-index.md §platform) and choosing one
 * manifest of a multi-platform index. Variants are compared the way
 * containerd's platform matcher normalises them: arm64 means v8 and arm means
 * v7 unless said otherwise.
 */
import { WhiteoutError } from '../errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new WhiteoutError('--platform', `'${text}' is not os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8)`, 'usage');
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips64el: 'mips64le',
};

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return { os, architecture: NODE_ARCH[process.arch] ?? process.arch };
}

function defaultVariant(arch: string): string | undefined {
  if (arch === 'arm64') return 'v8';
  if (arch === 'arm') return 'v7';
  return undefined;
}

/** Does an image for `have` satisfy a request for `want`? A request without a variant takes any variant. */
export function platformMatches(want: Platform, have: Platform): boolean {
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  if (!want.variant) return true;
  return (have.variant ?? defaultVariant(have.architecture)) === want.variant;
}

/**
 * Pick one of `candidates` for `want` (given, or the host). Several matches
 * that differ only by variant resolve to the default variant; anything else
 * ambiguous or absent is an error that lists what there is.
 */
export function choosePlatform<T>(candidates: readonly T[], platformOf: (c: T) => Platform | undefined, want: Platform | undefined, what: string): T {
  const only = candidates[0];
  if (candidates.length === 1 && only !== undefined && !want) return only;
  const target = want ?? hostPlatform();
  const listed = () => candidates.map((c) => formatPlatform(platformOf(c) ?? { os: '?', architecture: '?' })).join(', ');
  let matches = candidates.filter((c) => {
    const p = platformOf(c);
    return p !== undefined && platformMatches(target, p);
  });
  if (matches.length > 1 && !target.variant) {
    const dv = defaultVariant(target.architecture);
    const preferred = matches.filter((c) => (platformOf(c)?.variant ?? dv) === dv);
    if (preferred.length >= 1) matches = preferred;
  }
  const [first] = matches;
  if (matches.length === 1 && first !== undefined) return first;
  const how = want ? `--platform ${formatPlatform(target)}` : `the host platform ${formatPlatform(target)}`;
  if (matches.length === 0) throw new WhiteoutError(what, `no image for ${how}; it has: ${listed()} (choose with --platform)`, 'input');
  throw new WhiteoutError(what, `${matches.length} images match ${how}: ${listed()} (choose with --platform os/arch/variant)`, 'input');
}
