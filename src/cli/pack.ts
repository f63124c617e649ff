import type { CommandModule } from 'yargs';
import { WhiteoutError } from '../errors.js';
import type { Compression } from '../tar/compress.js';
import type { Reporter } from './common.js';
import { repeatable } from './flags.js';
import { info, warn } from './output.js';

interface Args {
  dir: string;
  output: string;
  compress: string;
  userxattr: boolean;
  whiteouts: string;
  force: boolean;
  json: boolean;
  quiet: boolean;
  lower: string[];
}

export function packCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'pack <dir>',
    describe: 'pack an overlay upper or diff directory into an OCI layer tar',
    builder: (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true, describe: 'the overlay upper/diff directory' })
        .option('output', { alias: 'o', type: 'string', default: '-', describe: 'layer file to write, or - for standard output' })
        .option('compress', { type: 'string', default: 'none', choices: ['none', 'gzip', 'zstd'], describe: 'compression of the output' })
        .option('userxattr', { type: 'boolean', default: false, describe: 'read user.overlay.* instead of trusted.overlay.* (rootless, mount -o userxattr)' })
        .option('whiteouts', {
          type: 'string',
          default: 'kernel',
          choices: ['kernel', 'aufs'],
          describe: 'kernel: 0/0 devices and xattr whiteouts; aufs: also read .wh. files (fuse-overlayfs)',
        })
        .option(
          'lower',
          repeatable<string>('string', 'a layer directory below this one, topmost first (repeatable): with metacopy=on, the data of a file and the content of a renamed directory are read from them, and an opaque marker is written only where it hides a directory of theirs'),
        )
        .option('force', { type: 'boolean', default: false, describe: 'replace an existing output file' })
        .option('json', { type: 'boolean', default: false, describe: 'print diffID and digest as JSON on stdout (needs -o FILE)' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings or summary on stderr (and, without --json, no hashing: the digests are only shown)' })
        .example('$0 pack /var/lib/docker/overlay2/<id>/diff -o layer.tar.gz --compress gzip', 'a Docker overlay2 diff dir')
        .example('$0 pack ~/.local/share/containers/storage/overlay/<id>/diff --userxattr -o layer.tar', 'a rootless podman layer')
        .example('$0 pack upper --lower l2 --lower l1 -o layer.tar', 'an upper dir made with metacopy=on, over lowerdir=l2:l1') as never,
    handler: async (a) => {
      // Imported here, not above: this module is loaded to define the flags on every run (SPEC.md §10).
      const [{ packLayer }, { writeFileAtomic }, { writeStdout }] = await Promise.all([import('../ops/pack.js'), import('../fs/atomic.js'), import('../io.js')]);
      const packed = packLayer(a.dir, {
        userxattr: a.userxattr,
        aufs: a.whiteouts === 'aufs',
        compression: a.compress as Compression,
        // The size is not known before the walk; a thread costs ~50 ms of the other core, hashing in line ~0.6 s per GB.
        hashInWorker: true,
        scanThread: true,
        lowers: a.lower,
        // writeFileAtomic is done with each chunk when it asks for the next (written, leased or copied); standard output may queue it.
        reuseChunks: a.output !== '-',
        // The digests are only shown, in the summary or --json: -q alone hashes nothing (~0.6 s of CPU per GB).
        digest: a.json || !a.quiet,
        ...(a.quiet ? {} : { onWarning: warn }),
      });
      if (a.output === '-') {
        if (a.json) throw new WhiteoutError('--json', 'needs -o FILE: standard output carries the layer', 'usage');
        await writeStdout(packed.stream);
      } else {
        // Behind the walk: it reads every file on the main thread, and the writes then overlap it.
        await writeFileAtomic(a.output, a.force, packed.stream, 0o644, { behind: true });
      }
      const r = packed.result();
      if (a.json) process.stdout.write(`${JSON.stringify({ output: a.output, diffID: r.diffID, digest: r.digest, size: r.size, uncompressedSize: r.uncompressedSize })}\n`);
      else if (!a.quiet) {
        info(`diffID ${r.diffID}`);
        info(`digest ${r.digest} (${r.size} bytes)`);
      }
      report(0);
    },
  };
}
