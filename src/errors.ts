/**
 * One error class for everything whiteout reports. `what` names the thing
 * (a file, a layer, an entry), `why` says what is wrong with it; the CLI prints
 * `whiteout: <what>: <why>` and maps `code` to an exit status.
 */
export type ErrorCode =
  | 'usage' // bad flags or arguments: exit 2
  | 'input' // the input is malformed or inconsistent
  | 'unsafe' // the input tries to escape the target or plant overlay metadata
  | 'unrepresentable' // the target form cannot hold something in the input
  | 'limit' // a configured limit was exceeded
  | 'exists' // the output exists and --force was not given
  | 'io' // the operating system refused something
  | 'privilege'; // the operation needs a privilege the process does not have

export class WhiteoutError extends Error {
  constructor(
    readonly what: string,
    readonly why: string,
    readonly code: ErrorCode = 'input',
  ) {
    super(`${what}: ${why}`);
    this.name = 'WhiteoutError';
  }
}

export function isWhiteoutError(e: unknown): e is WhiteoutError {
  return e instanceof WhiteoutError;
}

/** Node's system errors carry an errno code; this narrows to them without `any`. */
export interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
}

export function isSystemError(e: unknown): e is SystemError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

export function hasCode(e: unknown, ...codes: string[]): boolean {
  return isSystemError(e) && codes.includes(e.code);
}

/** Warnings never stop the work; the caller decides where they go. */
export type WarningSink = (message: string) => void;
