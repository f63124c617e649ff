import fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { WhiteoutError } from '../errors.js';
import { display } from '../paths.js';
import { type LimitArgs, type Reporter, limitsFrom, withLimits } from './common.js';
import { checkInputs, keepDash, withImageFlags } from './flags.js';
import { info, warn } from './output.js';

interface Args extends LimitArgs {
  args: string[];
  layer?: number;
  output: string;
  force: boolean;
  quiet: boolean;
  platform?: string;
  ref?: string;
}

/** Refuse what a terminal would only garble: a tar, or content with NUL bytes. */
async function* forTerminal(data: AsyncGenerator<Buffer>, tar: boolean): AsyncGenerator<Buffer> {
  const refuse = (why: string) => new WhiteoutError('-o -', `standard output is a terminal and ${why}; use -o FILE or a pipe`, 'usage');
  if (tar) throw refuse('the output is a tar');
  let first = true;
  for await (const chunk of data) {
    if (first && chunk.includes(0)) throw refuse('the content is binary');
    first = false;
    yield chunk;
  }
}

export function recoverCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'recover <args..>',
    describe: 'write a path as the image had it at a layer: a hidden (deleted, overwritten) file, or a directory as a tar',
    builder: (y) =>
      withImageFlags(
        withLimits(keepDash(y)).positional('args', { type: 'string', array: true, demandOption: true, describe: 'an image (or layer tars, bottom first), then the absolute path in the image' }),
      )
        .option('layer', { type: 'number', describe: "the layer whose copy to write (default: the topmost copy that is hidden, else the topmost)" })
        .option('output', { alias: 'o', type: 'string', default: '-', describe: 'a file (written atomically), or - for standard output' })
        .option('force', { type: 'boolean', default: false, describe: 'replace an existing output file' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings, progress or summary on stderr' })
        .example('$0 recover image.tar /root/.ssh/id_rsa -o id_rsa', 'a deleted file, from the last layer that had it')
        .example('$0 recover image.tar /etc/app --layer 3 -o app.tar', 'a directory as it was after layer 3, as a tar') as never,
    handler: async (a) => {
      if (a.args.length < 2) throw new WhiteoutError('recover', 'needs an image (or layer tars) and a path in the image', 'usage');
      const inputs = a.args.slice(0, -1);
      const pathText = a.args[a.args.length - 1] as string;
      checkInputs(inputs);
      if (a.layer !== undefined && (!Number.isSafeInteger(a.layer) || a.layer < 0)) throw new WhiteoutError('--layer', `'${a.layer}' is not a layer number`, 'usage');
      if (a.output !== '-' && !a.force) {
        // Refuse before reading anything (writeFileAtomic checks again at the end).
        if (fs.existsSync(a.output)) throw new WhiteoutError(a.output, 'exists (use --force to replace it)', 'exists');
      }
      // Imported here, not above: this module is loaded to define the flags on every run (SPEC.md §10).
      const [{ recoverPath }, { writeFileAtomic }, { writeStdout }, { NeedsLookahead }, { openImageFor }] = await Promise.all([
        import('../audit/recover.js'),
        import('../fs/atomic.js'),
        import('../io.js'),
        import('../rootfs/merge.js'),
        import('./open-image.js'),
      ]);
      const image = await openImageFor(inputs, a);
      try {
        const src = await recoverPath(image.layers, pathText, image.what, {
          ...(a.layer !== undefined ? { layer: a.layer } : {}),
          limits: limitsFrom(a),
          ...(a.quiet ? { progress: false } : { onWarning: warn }),
        });
        if (a.output === '-') {
          await writeStdout(process.stdout.isTTY ? forTerminal(src.data(), src.format === 'tar') : src.data());
        } else {
          try {
            await writeFileAtomic(a.output, a.force, src.data(), 0o600);
          } catch (e) {
            if (!(e instanceof NeedsLookahead)) throw e;
            await writeFileAtomic(a.output, a.force, src.data(true), 0o600);
          }
          if (!a.quiet) {
            const hidden = src.hiddenBy ? `, hidden by layer ${src.hiddenBy.layer} (${src.hiddenBy.reason})` : ', visible in the image';
            info(`recovered ${display(pathText)} (${src.format === 'tar' ? 'directory, as a tar' : src.kind}) from layer ${src.layer}${hidden} into ${a.output}`);
          }
        }
      } finally {
        await image.close();
      }
      report(0);
    },
  };
}
