/**
 * Runs one corpus case through every command, each time in the same sandbox:
 * unpack (device, xattr, aufs; with --userxattr where the case asks),
 * convert --to overlay, convert --to oci, and flatten once it exists. Around
 * every run the sandbox outside the target (victim, lowers, inputs, the
 * target's parent listing, TMPDIR) is snapshotted down to ctimes, so any
 * write, chmod, chown, utimes, xattr, link or delete outside shows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type CliResult, failureProblems, flattenAvailable, runCli, runHosted, show, successProblems } from '../helpers/hostile-cli.js';
import { type Form, type Logical, type Tree, compareTree, flattenedOf, logicalFromDisk, logicalFromOciTar, logicalFromOverlayTar, logicalFromRootfs } from '../helpers/hostile-expect.js';
import { diffSnapshots, makeSandbox, snapshot, upTo } from '../helpers/hostile-fs.js';
import { readTarSimple } from '../helpers/hostile-tar.js';
import type { Body, CaseDef, Command, Outcome } from './corpus.js';

interface Variant {
  form: Form;
  userxattr: boolean;
}

function variants(b: Body): Variant[] {
  const v: Variant[] = [
    { form: 'device', userxattr: false },
    { form: 'xattr', userxattr: false },
    { form: 'aufs', userxattr: false },
  ];
  if (b.userxattr) v.push({ form: 'device', userxattr: true }, { form: 'xattr', userxattr: true });
  return v;
}

const outcomeFor = (b: Body, form: Form): Outcome => (typeof b.unpack === 'function' ? b.unpack(form) : b.unpack);

/** A tar carries image xattrs as the image has them: undo the one level of escaping a directory gets (SPEC §5.1, §11.3). */
function unescaped(o: Outcome): Outcome {
  if (!('ok' in o)) return o;
  const t: Tree = {};
  for (const [p, x] of Object.entries(o.ok)) {
    if ('xattrs' in x && x.xattrs) {
      const xs: Record<string, string> = {};
      for (const [k, v] of Object.entries(x.xattrs)) xs[k.replace(/^(trusted|user)\.overlay\.overlay\./, '$1.overlay.')] = v;
      t[p] = { ...x, xattrs: xs };
    } else t[p] = x;
  }
  return { ok: t };
}

function defaultFlatten(b: Body): Outcome {
  if (b.flatten) return b.flatten;
  if (b.lowers?.length) return { any: true };
  const o = outcomeFor(b, 'device');
  return 'ok' in o ? { ok: flattenedOf(o.ok) } : o;
}

/** Latin1-safe short name of a case file: `.gz`/`.zst` never matter (detected from bytes). */
function writeInput(dir: string, name: string, data: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

export interface CaseReport {
  problems: string[];
  /** Commands that ran, for the summary. */
  ran: string[];
}

/**
 * Which unpack runs as a real `node bin/whiteout.js` process: one in four
 * cases, the form rotating, so every form and every category meets the real
 * process while the corpus stays inside its time budget (a node start is
 * ~250 ms; the rest runs in the CLI host).
 */
function realProcess(index: number, v: Variant): boolean {
  if (index % 4 !== 0 || v.userxattr) return false;
  return v.form === (['device', 'xattr', 'aufs'] as const)[(index / 4) % 3];
}

export async function runCase(def: CaseDef, index = 0): Promise<CaseReport> {
  const sb = makeSandbox();
  const problems: string[] = [];
  const ran: string[] = [];
  try {
    const body = def.make({ victim: sb.victim, up: (rel) => upTo(path.join(sb.victim, rel)) });
    const only = new Set<Command>(body.only ?? ['unpack', 'to-overlay', 'to-oci', 'flatten']);
    const layerFile = writeInput(sb.input, 'layer', body.layer);
    const lowerFiles = (body.lowers ?? []).map((l, i) => writeInput(sb.input, `lower${i}`, l));
    const env = { TMPDIR: sb.tmp };
    const tarTarget = `${sb.target}.tar`;
    const outside = () => snapshot(sb.base, (rel) => rel === '' || rel === 'out' || rel.startsWith('out/') || rel === 'out.tar');

    /** Run one command and check everything that does not depend on its output's form. */
    const step = async (label: string, args: string[], outcome: Outcome, read: () => { tree: Logical; problems: string[] }, exact: boolean, warn?: RegExp, real = false, target = sb.target) => {
      ran.push(label);
      const before = outside();
      let r: CliResult;
      try {
        r = real ? await runCli(args, { env, timeoutMs: 60_000 }) : await runHosted(args, { env, timeoutMs: 60_000 });
      } catch (e) {
        problems.push(`${label}: ${(e as Error).message}`);
        return;
      }
      const p: string[] = diffSnapshots(before, outside()).map((d) => `outside the target: ${d}`);
      const exists = fs.existsSync(target) || isLink(target);
      if ('err' in outcome || ('any' in outcome && r.code !== 0)) {
        p.push(...failureProblems(r));
        if ('err' in outcome && !outcome.err.test(r.stderr)) p.push(`stderr does not match ${outcome.err}`);
        if (exists) p.push('the target exists after a failure');
      } else {
        p.push(...successProblems(r));
        if (r.code === 0) {
          if (!exists) p.push('exit 0 but no output');
          else {
            let got: { tree: Logical; problems: string[] } | undefined;
            try {
              got = read();
            } catch (e) {
              p.push(`reading the output: ${(e as Error).message}`);
            }
            if (got) {
              p.push(...got.problems);
              if ('ok' in outcome) p.push(...compareTree(outcome.ok as Tree, got.tree, exact));
              if (body.extra) p.push(...body.extra(got.tree));
            }
          }
          if (warn && !warn.test(r.stderr)) p.push(`no warning matching ${warn}`);
        }
      }
      if (p.length > 0) problems.push(`${label}:\n    ${p.join('\n    ')}\n    ${show(r).split('\n').join('\n    ')}`);
      fs.rmSync(target, { recursive: true, force: true });
    };

    if (only.has('unpack')) {
      for (const v of variants(body)) {
        const flags = ['--whiteouts', v.form, ...(v.userxattr ? ['--userxattr'] : [])];
        const label = `unpack ${flags.join(' ')}`;
        // Lower layers first, each over the ones below it.
        const lowerDirs: string[] = [];
        let setupFailed = false;
        for (const [i, f] of lowerFiles.entries()) {
          const dir = path.join(sb.base, `lower-${v.form}${v.userxattr ? '-u' : ''}-${i}`);
          const r = await runHosted(['unpack', f, '-o', dir, ...flags, ...[...lowerDirs].reverse().flatMap((d) => ['--lower', d])], { env });
          if (r.code !== 0) {
            problems.push(`${label}: setting up lower ${i} failed\n    ${show(r)}`);
            setupFailed = true;
            break;
          }
          lowerDirs.push(dir);
        }
        if (setupFailed) continue;
        const lowerArgs = [...lowerDirs].reverse().flatMap((d) => ['--lower', d]);
        await step(
          `${label}${lowerArgs.length ? ` (${lowerDirs.length} lower)` : ''}`,
          ['unpack', layerFile, '-o', sb.target, ...flags, ...lowerArgs, ...(body.args ?? [])],
          outcomeFor(body, v.form),
          () => logicalFromDisk(sb.target, v.form, v.userxattr),
          true,
          body.warn,
          realProcess(index, v),
        );
      }
    }
    if (only.has('to-overlay')) {
      await step(
        'convert --to overlay',
        ['convert', layerFile, '--to', 'overlay', '-o', sb.target, ...(body.args ?? [])],
        body.toOverlay ?? outcomeFor(body, 'device'),
        () => logicalFromOverlayTar(readTarSimple(fs.readFileSync(sb.target)), false),
        false,
      );
    }
    if (only.has('to-oci')) {
      await step(
        'convert --to oci',
        ['convert', layerFile, '--to', 'oci', '-o', sb.target, ...(body.args ?? [])],
        body.toOci ?? { any: true },
        () => logicalFromOciTar(readTarSimple(fs.readFileSync(sb.target))),
        false,
      );
    }
    if (only.has('flatten') && flattenAvailable()) {
      const inputs = body.flattenInput ? [writeInput(sb.input, 'image.tar', body.flattenInput)] : [...lowerFiles, layerFile];
      await step('flatten', ['flatten', ...inputs, '-o', sb.target, ...(body.args ?? [])], defaultFlatten(body), () => logicalFromRootfs(sb.target), true);
      // The same as a tar: no marker, no unsafe name, the same tree.
      await step(
        'flatten -o out.tar',
        ['flatten', ...inputs, '-o', tarTarget, ...(body.args ?? [])],
        body.flattenTar ?? unescaped(defaultFlatten(body)),
        () => logicalFromOciTar(readTarSimple(fs.readFileSync(tarTarget))),
        false,
        undefined,
        false,
        tarTarget,
      );
    }
  } finally {
    sb.cleanup();
  }
  return { problems, ran };
}

function isLink(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
