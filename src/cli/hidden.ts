import type { CommandModule } from 'yargs';
import { DEFAULT_SCAN_BYTES } from '../audit/secret-scan.js';
import type { SecretRule } from '../audit/secret-rules.js';
import { type LimitArgs, type Reporter, limitsFrom, withLimits } from './common.js';
import { checkInputs, keepDash, repeatable, withImageFlags } from './flags.js';
import { EXIT_POLICY, warn } from './output.js';

interface Args extends LimitArgs {
  inputs: string[];
  json: boolean;
  quiet: boolean;
  platform?: string;
  ref?: string;
  failOn: string[];
  rules: string[];
  scanBytes: string;
  secrets: boolean;
}

/** The built-in secret rules, changed by each rules file in turn. */
async function secretRules(files: readonly string[]): Promise<SecretRule[]> {
  const [{ builtinRules }, { loadRulesFile }] = await Promise.all([import('../audit/secret-rules.js'), import('../audit/rules-file.js')]);
  let rules: SecretRule[] = [...builtinRules];
  for (const f of files) rules = await loadRulesFile(f, rules);
  return rules;
}

export function hiddenCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'hidden <inputs..>',
    describe: 'what an image deletes but still ships: every entry of a layer that the merged tree does not show, with secrets flagged',
    builder: (y) =>
      withImageFlags(
        withLimits(keepDash(y)).positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'an image (OCI layout dir or tar, docker save), or layer tars bottom first; - is standard input' }),
      )
        .option('json', { type: 'boolean', default: false, describe: 'one JSON document on stdout' })
        .option('fail-on', repeatable<string>('string', 'exit 3 if: secrets, hidden, or wasted:<size> (e.g. wasted:10MB); repeatable or comma-separated'))
        .option('rules', repeatable<string>('string', 'a JSON rules file that adds to or changes the secret rules (repeatable; see SPEC.md §15)'))
        .option('scan-bytes', { type: 'string', default: String(DEFAULT_SCAN_BYTES), describe: 'bytes of each hidden file scanned for secrets (0: names only)' })
        .option('secrets', { type: 'boolean', default: true, describe: 'flag secrets (--no-secrets: neither names nor content)' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings or progress on stderr' })
        .example('$0 hidden image.tar', 'a table per layer, and the wasted bytes')
        .example('$0 hidden oci-layout --json | jq ".hidden[] | select(.secrets != [])"', 'just the secrets')
        .example('$0 hidden image.tar --fail-on secrets,wasted:50MB', 'a CI gate: exit 3 when it fails') as never,
    handler: async (a) => {
      checkInputs(a.inputs);
      // Imported here, not above: this module is loaded to define the flags on every run (SPEC.md §10).
      const [{ auditImageLayers }, { failedPolicies, parsePolicies }, { auditJson, auditText }, { SecretMatcher }, { parseSize }, { writeStdout }, { openImageFor }] =
        await Promise.all([
          import('../audit/audit-image.js'),
          import('../audit/policy.js'),
          import('../audit/report.js'),
          import('../audit/secret-scan.js'),
          import('../audit/size.js'),
          import('../io.js'),
          import('./open-image.js'),
        ]);
      const policies = parsePolicies(a.failOn);
      const scanBytes = parseSize(a.scanBytes, '--scan-bytes');
      const limits = limitsFrom(a);
      const rules = a.secrets ? await secretRules(a.rules) : [];
      const image = await openImageFor(a.inputs, a);
      let failed: { what: string; why: string }[] = [];
      try {
        const result = await auditImageLayers(image.layers, {
          limits,
          scanBytes,
          ...(rules.length > 0 ? { secrets: new SecretMatcher(rules) } : {}),
          ...(a.quiet ? { progress: false } : { onWarning: warn }),
        });
        await writeStdout(a.json ? auditJson(image, result) : auditText(image, result));
        failed = failedPolicies(result, policies);
      } finally {
        await image.close();
      }
      for (const f of failed) process.stderr.write(`whiteout: ${f.what}: ${f.why}\n`);
      report(failed.length > 0 ? EXIT_POLICY : 0);
    },
  };
}
