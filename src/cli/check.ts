import type { CommandModule } from 'yargs';
import type { CheckReport } from '../check/check.js';
import type { Finding } from '../check/finding.js';
import type { CheckedLayer } from '../check/image-check.js';
import { type LimitArgs, type Reporter, limitsFrom, withLimits } from './common.js';
import { checkInputs, keepDash, withImageFlags } from './flags.js';
import { EXIT_OK, EXIT_POLICY, warn } from './output.js';

interface Args extends LimitArgs {
  inputs: string[];
  json: boolean;
  strict: boolean;
  whiteouts: string;
  quiet: boolean;
  platform?: string;
  ref?: string;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function line(f: Finding): string {
  const where = `${f.entry ?? ''}${f.offset !== undefined ? ` @${f.offset}` : ''}`;
  return `  ${f.severity.padEnd(7)} ${f.rule.padEnd(23)} ${where ? `${where}: ` : ''}${f.message} [${f.spec}]\n`;
}

function layerHead(l: CheckedLayer): string {
  const id = l.diffID ?? l.computedDiffID;
  return `layer ${l.index}${id ? `  ${id}` : ''}${l.complete ? '' : '  (not read to the end)'}\n`;
}

/** Human text: findings grouped by layer, one a line, then the counts. */
async function* text(r: CheckReport): AsyncGenerator<Buffer> {
  const out = (s: string) => Buffer.from(s, 'utf8');
  const head =
    r.target === 'overlay-dir'
      ? 'overlay directory'
      : r.target === 'layers'
        ? r.layers.length === 1 ? 'a layer tar' : 'layer tars, bottom first'
        : `${r.format ?? 'image'}, ${plural(r.layers.length, 'layer')}`;
  yield out(`${r.input} (${head})\n`);
  for (const f of r.findings) if (f.layer === undefined) yield out(line(f));
  for (const l of r.layers) {
    const own = r.findings.filter((f) => f.layer === l.index);
    yield out(layerHead(l));
    if (own.length === 0) yield out('  no findings\n');
    for (const f of own) yield out(line(f));
  }
  yield out(`${plural(r.errors, 'error')}, ${plural(r.warnings, 'warning')}, ${r.infos} info\n`);
}

export function checkCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'check <inputs..>',
    describe: 'lint an image, layer tars or an overlay directory against the OCI spec and the overlay rules',
    builder: (y) =>
      withImageFlags(
        withLimits(keepDash(y)).positional('inputs', {
          type: 'string',
          array: true,
          demandOption: true,
          describe: 'an image, layer tars bottom first (- is standard input), or an overlay upper/diff directory',
        }),
      )
        .option('json', { type: 'boolean', default: false, describe: 'one JSON document on stdout' })
        .option('strict', { type: 'boolean', default: false, describe: 'warnings fail the check too (exit 3)' })
        .option('whiteouts', {
          type: 'string',
          default: 'kernel',
          choices: ['kernel', 'aufs'],
          describe: 'overlay directory: aufs reads .wh. files as whiteouts (fuse-overlayfs)',
        })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings on stderr' })
        .example('$0 check image.tar', 'every layer, with each finding, its rule and SPEC.md section')
        .example('$0 check base.tar.gz app.tar.gz --strict', 'a stack of layer tars; warnings fail too')
        .example('$0 check /var/lib/docker/overlay2/<id>/diff --json', 'an overlay directory') as never,
    handler: async (a) => {
      checkInputs(a.inputs);
      // Imported here, not above: this module is loaded to define the flags on every run (SPEC.md §10).
      const [{ checkInputs: runCheck }, { writeStdout }] = await Promise.all([import('../check/check.js'), import('../io.js')]);
      const r = await runCheck(a.inputs, {
        ...(a.platform !== undefined ? { platform: a.platform } : {}),
        ...(a.ref !== undefined ? { ref: a.ref } : {}),
        aufs: a.whiteouts === 'aufs',
        limits: limitsFrom(a),
        ...(a.quiet ? {} : { onWarning: warn }),
      });
      if (a.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else await writeStdout(text(r));
      report(r.errors > 0 || (a.strict && r.warnings > 0) ? EXIT_POLICY : EXIT_OK);
    },
  };
}
