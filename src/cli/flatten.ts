import path from 'node:path';
import type { CommandModule } from 'yargs';
import { WhiteoutError } from '../errors.js';
import { type LimitArgs, type Reporter, limitsFrom, withLimits } from './common.js';
import { checkInputs, idMapOf, isTarOutput, keepDash, repeatable, withIdMapFlags, withImageFlags } from './flags.js';
import { info, warn } from './output.js';

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
        .option('omit', repeatable<number>('number', 'leave out layer n (repeatable)'))
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
      // Imported here, not above: the module is loaded to define the flags on every run (SPEC.md §10).
      const [{ writeStdout }, { flattenToDir, flattenToTar, flattenToTarFile }, { parseLayerRange, selectLayers }, { openImageFor }] = await Promise.all([
        import('../io.js'),
        import('../rootfs/flatten.js'),
        import('../rootfs/select.js'),
        import('./open-image.js'),
      ]);
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
