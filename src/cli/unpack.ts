import type { CommandModule } from 'yargs';
import { unpackLayer } from '../ops/unpack.js';
import { readSource } from '../io.js';
import { type LimitArgs, type Reporter, limitsFrom, parseWhiteoutForm, withLimits } from './common.js';
import { info, warn } from './output.js';

interface Args extends LimitArgs {
  layer: string;
  output: string;
  whiteouts: string;
  userxattr: boolean;
  lower: string[];
  force: boolean;
  json: boolean;
  quiet: boolean;
}

export function unpackCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'unpack <layer>',
    describe: 'unpack a layer tar (plain, gzip or zstd) into an overlay-ready directory',
    builder: (y) =>
      withLimits(y)
        .positional('layer', { type: 'string', demandOption: true, describe: 'layer file, or - for standard input' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'directory to create (must not exist, or be empty)' })
        .option('whiteouts', {
          type: 'string',
          default: 'device',
          choices: ['device', 'xattr', 'aufs'],
          describe: 'device: 0/0 char devices; xattr: kernel 6.7+ xattr whiteouts (no mknod); aufs: .wh. files (fuse-overlayfs)',
        })
        .option('userxattr', { type: 'boolean', default: false, describe: 'use user.overlay.* instead of trusted.overlay.* (mount -o userxattr)' })
        .option('lower', {
          type: 'string',
          array: true,
          default: [],
          describe: 'a layer directory below this one, topmost first (repeatable): implied directories take its metadata, a root opaque marker becomes whiteouts',
        })
        .option('force', { type: 'boolean', default: false, describe: 'replace a non-empty output directory' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings or summary on stderr' })
        .example('$0 unpack layer.tar.gz -o /var/lib/layers/1', 'unpack with 0/0 device whiteouts')
        .example('$0 unpack - -o upper --whiteouts xattr --userxattr < layer.tar', 'unprivileged form, from standard input') as never,
    handler: async (a) => {
      const result = await unpackLayer(readSource(a.layer), a.output, {
        form: { whiteouts: parseWhiteoutForm(a.whiteouts), userxattr: a.userxattr },
        lowers: a.lower,
        force: a.force,
        limits: limitsFrom(a),
        name: a.layer === '-' ? 'stdin' : a.layer,
        ...(a.quiet ? {} : { onWarning: warn }),
      });
      if (a.json) process.stdout.write(`${JSON.stringify({ output: a.output, ...result })}\n`);
      else if (!a.quiet) {
        info(`unpacked ${result.entries} entries (${result.whiteouts} whiteouts, ${result.opaque} opaque dirs) into ${a.output}`);
        info(`diffID ${result.diffID}`);
      }
      report(0);
    },
  };
}
