import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { WhiteoutError } from '../errors.js';
import { trackTemp, writeFileAtomic } from '../fs/atomic.js';
import { readSource, sourceSize, writeStdout } from '../io.js';
import { convertToOci, convertToOverlay } from '../ops/convert.js';
import { worthAZstdThread } from '../tar/compress.js';
import { type LimitArgs, type Reporter, limitsFrom, withLimits } from './common.js';
import { warn } from './output.js';

interface Args extends LimitArgs {
  input: string;
  output: string;
  to: string;
  userxattr: boolean;
  force: boolean;
  quiet: boolean;
}

/** `--to overlay` reads its input twice; standard input is kept in a temp file for that. */
async function reopenable(input: string, reuse: boolean): Promise<{ open: () => AsyncIterable<Buffer>; done: () => Promise<void> }> {
  if (input !== '-') return { open: () => readSource(input, { reuse }), done: async () => {} };
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'whiteout-stdin-'));
  const untrack = trackTemp(dir);
  const file = path.join(dir, 'layer');
  const fh = await fs.promises.open(file, 'wx', 0o600);
  try {
    for await (const chunk of readSource('-')) await fh.write(chunk, 0, chunk.length);
  } finally {
    await fh.close();
  }
  return {
    open: () => readSource(file, { reuse }),
    done: async () => {
      await fs.promises.rm(dir, { recursive: true, force: true });
      untrack();
    },
  };
}

export function convertCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'convert <input>',
    describe: 'convert a layer tar between the OCI form (.wh. files) and the overlay form (0/0 devices, opaque xattrs)',
    builder: (y) =>
      withLimits(y)
        .positional('input', { type: 'string', demandOption: true, describe: 'layer tar (plain, gzip or zstd), or - for standard input' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'tar to write, or - for standard output' })
        .option('to', { type: 'string', demandOption: true, choices: ['oci', 'overlay'], describe: 'the form to write' })
        .option('userxattr', { type: 'boolean', default: false, describe: 'overlay form uses user.overlay.* instead of trusted.overlay.*' })
        .option('force', { type: 'boolean', default: false, describe: 'replace an existing output file' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings on stderr' })
        .example("tar --xattrs --xattrs-include='*' -C upper -c . | $0 convert - --to oci -o layer.tar", 'an overlay upper dir, tarred, to an OCI layer')
        .example('$0 convert layer.tar.gz --to overlay -o overlay.tar', 'an OCI layer to the overlay form') as never,
    handler: async (a) => {
      // yargs reads a lone `-` positional as ''.
      if (a.input === '') a.input = '-';
      const name = a.input === '-' ? 'stdin' : a.input;
      // Into a file, the input is read into reused buffers (ConvertOptions.volatile): the file is
      // written a chunk at a time, each before the next is read. A pipe may queue chunks.
      const reuse = a.output !== '-';
      const common = {
        userxattr: a.userxattr,
        name,
        limits: limitsFrom(a),
        volatile: reuse,
        decodeInWorker: worthAZstdThread(sourceSize(a.input)),
        ...(a.quiet ? {} : { onWarning: warn }),
      };
      const src = a.to === 'overlay' ? await reopenable(a.input, reuse) : undefined;
      try {
        const out = src ? convertToOverlay(src.open, common) : convertToOci(readSource(a.input, { reuse }), common);
        if (a.output === '-') await writeStdout(out);
        else {
          if (a.input !== '-' && path.resolve(a.input) === path.resolve(a.output)) {
            throw new WhiteoutError(a.output, 'is also the input', 'usage');
          }
          await writeFileAtomic(a.output, a.force, out);
        }
      } finally {
        await src?.done();
      }
      report(0);
    },
  };
}
