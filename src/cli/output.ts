/** How the CLI talks: one-line errors, warnings on stderr, machine output on stdout. */
import { WhiteoutError, isSystemError, type ErrorCode } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_POLICY = 3;

export function warn(message: string): void {
  process.stderr.write(`whiteout: warning: ${message}\n`);
}

export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

const hints: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  ENOTSUP: 'operation not supported by the file system',
  EOPNOTSUPP: 'operation not supported by the file system',
  ELOOP: 'too many levels of symbolic links',
  EXDEV: 'cross-device link',
};

/** One line for any error, never a stack trace. */
export function describeError(e: unknown): { line: string; code: ErrorCode } {
  if (e instanceof WhiteoutError) return { line: `whiteout: ${e.what}: ${e.why}`, code: e.code };
  if (isSystemError(e)) {
    const why = hints[e.code] ?? e.message.replace(/^[A-Z]+: /, '').split('\n')[0];
    const what = e.path ?? e.syscall ?? 'system';
    return { line: `whiteout: ${what}: ${why}${e.code in hints ? ` (${e.code})` : ''}`, code: 'io' };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { line: `whiteout: internal error: ${msg.split('\n')[0]}`, code: 'io' };
}

export function exitCodeFor(code: ErrorCode): number {
  return code === 'usage' ? EXIT_USAGE : EXIT_FAILURE;
}
