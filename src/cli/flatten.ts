import fs from 'node:fs';
import { type LimitArgs, limitsFrom, withLimits } from './common.js';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { WhiteoutError } from '../errors.js';
import { type Image, openImage } from '../image/image.js';
import { writeStdout } from '../io.js';
import { flattenToDir, flattenToTar, flattenToTarFile } from '../rootfs/flatten.js';
import { type IdMapping, parseIdRanges } from '../rootfs/idmap.js';
import { parseLayerRange, selectLayers } from '../rootfs/select.js';
import type { Reporter } from './common.js';
import { info, warn } from './output.js';

/** `--platform` and `--ref`: which image of an archive (shared by flatten, unpack and ls). */
export function withImageFlags<T>(y: Argv<T>) {
  return y
    .option('platform', { type: 'string', describe: 'os/arch[/variant] of a multi-platform image (default: the host)' })
    .option('ref', { type: 'string', describe: 'name:tag of the image, in an archive holding several' });
}

/** `--uid-map` and `--gid-map` (shared by flatten and unpack). */
export function withIdMapFlags<T>(y: Argv<T>) {
  return y
    .option('uid-map', { type: 'string', array: true, default: [] as string[], describe: 'container:host:count, shift file owners (repeatable)' })
    .option('gid-map', { type: 'string', array: true, default: [] as string[], describe: 'container:host:count, shift file groups (repeatable)' });
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

export async function openImageFor(inputs: readonly string[], a: { platform?: string; ref?: string; quiet: boolean }): Promise<Image> {
  return openImage(inputs, {
    ...(a.platform !== undefined ? { platform: a.platform } : {}),
    ...(a.ref !== undefined ? { ref: a.ref } : {}),
    ...(a.quiet ? {} : { onWarning: warn }),
  });
}

interface Args extends LimitArgs {
  inputs: string[];
  output: string;
  platform?: string;
  ref?: string;
  layers?: string;
  omit: number[];
  path?: string;
  uidMap: string[];
  gidMap: string[];
  force: boolean;
  json: boolean;
  quiet: boolean;
}

/** A path ending in `.tar`, or `-`, gets a tar; anything else a directory. */
export function isTarOutput(output: string): boolean {
  return output === '-' || output.endsWith('.tar');
}

export function flattenCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'flatten <inputs..>',
    describe: 'the merged root filesystem of an image (or of layer tars, bottom first), as a directory or a tar',
    builder: (y) =>
      withIdMapFlags(
        withImageFlags(
          withLimits(keepDash(y))
            .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'an image (OCI layout dir or tar, docker save, kaniko tarball), or layer tars bottom first; - is standard input' })
            .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'a directory, a file ending in .tar, or - for a tar on standard output' }),
        ),
      )
        .option('layers', { type: 'string', describe: '<from>..<to>: only these layers (0 = bottom, inclusive)' })
        .option('omit', { type: 'number', array: true, default: [] as number[], describe: 'leave out layer n (repeatable)' })
        .option('path', { type: 'string', describe: '/abs/path: only that path and what is below it, as the merged view has it' })
        .option('force', { type: 'boolean', default: false, describe: 'replace an existing output' })
        .option('json', { type: 'boolean', default: false, describe: 'print a summary as JSON on stdout (not with -o -)' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings, progress or summary on stderr' })
        .example('$0 flatten image.tar -o rootfs/', 'docker save output to a directory')
        .example('$0 flatten oci-layout --platform linux/arm64 -o rootfs.tar', 'one platform of an OCI layout, as a tar')
        .example('$0 flatten base.tar.gz app.tar.gz -o - | tar -t', 'layer tars, bottom first, to standard output')
        .example('$0 flatten image.tar --path /etc -o etc.tar', 'just /etc of the merged view') as never,
    handler: async (a) => {
      checkInputs(a.inputs);
      if (a.json && a.output === '-') throw new WhiteoutError('--json', 'needs -o FILE or DIR: standard output carries the tar', 'usage');
      for (const i of a.inputs) {
        if (i !== '-' && a.output !== '-' && path.resolve(i) === path.resolve(a.output)) throw new WhiteoutError(a.output, 'is also an input', 'usage');
      }
      const idMap = idMapOf(a);
      const range = a.layers !== undefined ? parseLayerRange(a.layers) : {};
      if (a.path !== undefined && !a.path.startsWith('/')) throw new WhiteoutError('--path', `'${a.path}' is not an absolute path`, 'usage');
      const image = await openImageFor(a.inputs, a);
      try {
        const opts = {
          ...range,
          omit: a.omit,
          idMap,
          limits: limitsFrom(a),
          ...(a.path !== undefined ? { path: a.path } : {}),
          ...(a.quiet ? { progress: false } : { onWarning: warn }),
        };
        let entries: number | undefined;
        if (a.output === '-') await writeStdout(flattenToTar(image.layers, opts));
        else if (isTarOutput(a.output)) await flattenToTarFile(image.layers, a.output, { ...opts, force: a.force });
        else entries = (await flattenToDir(image.layers, a.output, { ...opts, force: a.force })).entries;
        const used = selectLayers(image.layers, opts).map((l) => l.index);
        const summary = { output: a.output, format: isTarOutput(a.output) ? 'tar' : 'dir', image: image.what, layers: used, ...(entries !== undefined ? { entries } : {}) };
        if (a.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else if (!a.quiet && a.output !== '-') info(`flattened ${used.length} layers of ${image.what} into ${a.output}`);
      } finally {
        await image.close();
      }
      report(0);
    },
  };
}
