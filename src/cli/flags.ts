/**
 * Flag builders and argument checks shared by several commands, kept apart from
 * the code behind the commands: a command's module is imported to define its
 * flags on every run, so it may import only this, common.ts and output.ts
 * statically; the operation itself is imported in the handler (SPEC.md §10).
 */
import fs from 'node:fs';
import type { Argv } from 'yargs';
import { WhiteoutError } from '../errors.js';
import { type IdMapping, parseIdRanges } from '../rootfs/idmap.js';

/**
 * A repeatable flag: `--x a --x b` collects both. yargs' `array: true` would
 * also swallow every word after the flag, so `flatten --uid-map 0:1:2 image.tar`
 * lost its image; a plain option that yargs gathers when repeated does not.
 */
export function repeatable<V extends string | number>(type: V extends string ? 'string' : 'number', describe: string) {
  return { type, default: [] as V[], describe, coerce: (v: V | V[]): V[] => (Array.isArray(v) ? v : [v]) } as const;
}

/** `--platform` and `--ref`: which image of an archive (shared by flatten, unpack, ls, hidden, recover, check). */
export function withImageFlags<T>(y: Argv<T>) {
  return y
    .option('platform', { type: 'string', describe: 'os/arch[/variant] of a multi-platform image (default: the host)' })
    .option('ref', { type: 'string', describe: 'name:tag of the image, in an archive holding several' });
}

/** `--uid-map` and `--gid-map` (shared by flatten and unpack). */
export function withIdMapFlags<T>(y: Argv<T>) {
  return y
    .option('uid-map', repeatable<string>('string', 'container:host:count, shift file owners (repeatable)'))
    .option('gid-map', repeatable<string>('string', 'container:host:count, shift file groups (repeatable)'));
}

/**
 * yargs re-reads positionals as `--inputs <value>`, which drops a lone `-`
 * (standard input). Reading unknown dashes as arguments keeps it; an unknown
 * option then arrives as an input, and checkInputs turns it back into a
 * usage error.
 */
export function keepDash<T>(y: Argv<T>): Argv<T> {
  return y.parserConfiguration({ 'unknown-options-as-args': true });
}

export function checkInputs(inputs: readonly string[]): void {
  for (const i of inputs) {
    if (i.startsWith('-') && i !== '-' && !fs.existsSync(i)) throw new WhiteoutError(i, 'unknown option (see --help)', 'usage');
  }
  if (inputs.filter((i) => i === '-').length > 1) throw new WhiteoutError('-', 'standard input can be read only once', 'usage');
}

export function idMapOf(a: { uidMap?: string[]; gidMap?: string[] }): IdMapping {
  return { uids: parseIdRanges(a.uidMap ?? [], '--uid-map'), gids: parseIdRanges(a.gidMap ?? [], '--gid-map') };
}

/** A path ending in `.tar`, or `-`, gets a tar; anything else a directory. */
export function isTarOutput(output: string): boolean {
  return output === '-' || output.endsWith('.tar');
}
