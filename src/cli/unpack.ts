import type { CommandModule } from 'yargs';
import { WhiteoutError } from '../errors.js';
import { type LimitArgs, type Reporter, limitsFrom, parseWhiteoutForm, withLimits } from './common.js';
import { idMapOf, repeatable, withIdMapFlags, withImageFlags } from './flags.js';
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
  platform?: string;
  ref?: string;
  uidMap: string[];
  gidMap: string[];
  diffId?: string;
  digest: boolean;
}

export function unpackCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'unpack <layer>',
    describe: 'unpack a layer tar (plain, gzip or zstd) into an overlay-ready directory, or every layer of an image into <dir>/layers/ with a mount line',
    builder: (y) =>
      withIdMapFlags(
        withImageFlags(
          withLimits(y)
            .positional('layer', { type: 'string', demandOption: true, describe: 'layer file, or - for standard input; or an image (OCI layout dir or tar, docker save, kaniko tarball)' })
            .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'directory to create (must not exist, or be empty); for an image, a directory that may already hold layers/' })
            .option('whiteouts', {
              type: 'string',
              default: 'device',
              choices: ['device', 'xattr', 'aufs'],
              describe: 'device: 0/0 char devices; xattr: kernel 6.7+ xattr whiteouts (no mknod); aufs: .wh. files (fuse-overlayfs)',
            })
            .option('userxattr', { type: 'boolean', default: false, describe: 'use user.overlay.* instead of trusted.overlay.* (mount -o userxattr)' })
            .option(
              'lower',
              repeatable<string>('string', 'a layer directory below this one, topmost first (repeatable): implied directories take its metadata, a root opaque marker becomes whiteouts'),
            )
            .option('force', { type: 'boolean', default: false, describe: 'replace a non-empty output directory (a layer only)' })
            .option('diff-id', { type: 'string', describe: 'a layer only: the sha256 its tar must have; on a mismatch the output never appears' })
            .option('digest', {
              type: 'boolean',
              default: true,
              describe: 'a layer only: hash the tar for its diffID, when it is shown or checked (with -q and no --json or --diff-id it is not); --no-digest never (~0.6 s of CPU per GB)',
            })
            .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' })
            .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings or summary on stderr' }),
        ),
      )
        .example('$0 unpack layer.tar.gz -o /var/lib/layers/1', 'unpack with 0/0 device whiteouts')
        .example('$0 unpack - -o upper --whiteouts xattr --userxattr < layer.tar', 'unprivileged form, from standard input')
        .example('$0 unpack image.tar -o /var/lib/img && sh /var/lib/img/mount.sh', 'a whole image as an overlay stack') as never,
    handler: async (a) => {
      // yargs reads a lone `-` given as a positional as an empty flag: it meant standard input.
      if (a.layer === '') a.layer = '-';
      const form = { whiteouts: parseWhiteoutForm(a.whiteouts), userxattr: a.userxattr };
      const idMap = idMapOf(a);
      // Standard input is always a layer: an image is read in place, standard input cannot be.
      // The operations are imported here, not above: this module is loaded to define the flags on every run, and
      // the image code (~55 modules with yargs' own) cost a 10-entry layer ~40 ms it never used (SPEC.md §10).
      const input = a.layer === '-' ? undefined : await (await import('../image/input.js')).classifyInput(a.layer);
      if (input?.kind === 'image') {
        const [{ openArchiveImage }, { unpackImage }] = await Promise.all([import('../image/image.js'), import('../image/unpack.js')]);
        const layerOnly = a.lower.length > 0 ? '--lower' : a.diffId !== undefined ? '--diff-id' : !a.digest ? '--no-digest' : undefined;
        if (layerOnly !== undefined) {
          await input.archive.close();
          throw new WhiteoutError(layerOnly, 'applies to a single layer; an image brings its own lower layers and diffIDs, and every layer is checked against them', 'usage');
        }
        const image = await openArchiveImage(input.archive, {
          ...(a.platform !== undefined ? { platform: a.platform } : {}),
          ...(a.ref !== undefined ? { ref: a.ref } : {}),
          ...(a.quiet ? {} : { onWarning: warn }),
        });
        try {
          const r = await unpackImage(image, a.output, { form, idMap, limits: limitsFrom(a), ...(a.quiet ? { progress: false } : { onWarning: warn }) });
          if (a.json) {
            const layers = r.layers.map((l) => ({ index: l.index, diffID: l.diffID, dir: l.dir, reused: l.reused, ...(l.stats ?? {}) }));
            process.stdout.write(`${JSON.stringify({ output: a.output, image: image.what, ref: image.ref, mount: r.mountLine, script: r.script, lowerdirs: r.lowerdirs, layers })}\n`);
          } else {
            process.stdout.write(`${r.mountLine}\n`);
            if (!a.quiet) {
              const reused = r.layers.filter((l) => l.reused).length;
              info(`unpacked ${r.layers.length - reused} layers${reused ? ` (${reused} already there)` : ''} into ${a.output}/layers; mount with: sh ${r.script}`);
            }
          }
        } finally {
          await image.close();
        }
        report(0);
        return;
      }
      if (a.platform !== undefined || a.ref !== undefined) throw new WhiteoutError(a.platform !== undefined ? '--platform' : '--ref', 'applies to images, not a layer tar', 'usage');
      if (a.diffId !== undefined && !a.digest) throw new WhiteoutError('--diff-id', 'needs the digest that --no-digest turns off', 'usage');
      const [{ readSource, sourceSize }, { worthAHashThread }, { worthAZstdThread }] = await Promise.all([import('../io.js'), import('../tar/digest.js'), import('../tar/compress.js')]);
      // Only sha256: it is what every image's config lists, and what the tar is hashed with.
      const diffID = a.diffId === undefined ? undefined : (await import('../image/digest.js')).parseDigest(a.diffId, '--diff-id');
      if (diffID && diffID.algorithm !== 'sha256') throw new WhiteoutError('--diff-id', 'only a sha256 diffID can be checked', 'usage');
      // unpack is done with each chunk when it asks for the next, so the reads fill the same buffers again; they run
      // in line, as the threadpool is busy with the write-behind's big bodies (SPEC.md §10).
      // One stat: the thread for the hash and the one for zstd are each worth it only for a big layer.
      const size = sourceSize(a.layer);
      const result = await (await import('../ops/unpack.js')).unpackLayer(readSource(a.layer, { reuse: true, inLine: true }), a.output, {
        form,
        idMap,
        volatileSource: true,
        // Hashed only for someone: the summary, --json or --diff-id (-q alone shows nothing).
        digest: a.digest && (diffID !== undefined || a.json || !a.quiet),
        ...(diffID ? { diffID: `sha256:${diffID.hex}` } : {}),
        // No --lower: the layers below are unknown (an empty list would say there are none).
        ...(a.lower.length > 0 ? { lowers: a.lower } : {}),
        force: a.force,
        limits: limitsFrom(a),
        name: a.layer === '-' ? 'stdin' : a.layer,
        hashInWorker: worthAHashThread(size),
        decodeInWorker: worthAZstdThread(size),
        ...(a.quiet ? {} : { onWarning: warn }),
      });
      if (a.json) process.stdout.write(`${JSON.stringify({ output: a.output, ...result })}\n`);
      else if (!a.quiet) {
        info(`unpacked ${result.entries} entries (${result.whiteouts} whiteouts, ${result.opaque} opaque dirs) into ${a.output}`);
        if (result.diffID !== undefined) info(`diffID ${result.diffID}${diffID ? ' (as expected)' : ''}`);
      }
      report(0);
    },
  };
}
