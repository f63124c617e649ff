/**
 * The run without yargs (src/cli/direct-parse.ts) against yargs itself: for
 * any command line it takes, yargs must reach the same handler with the same
 * arguments. Command lines are drawn from each command's own declared flags
 * (valid, invalid, repeated, aliased, negated, unknown, misplaced), so a flag
 * added to a builder is covered without touching this test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommandModule } from 'yargs';
import { type FlagSpec, type RecordedFlags, parseDirect, recordFlags } from '../src/cli/direct-parse.js';
import { COMMANDS, runWithYargs } from '../src/cli/main.js';
import { fcParams } from './properties/harness.js';

type Module = CommandModule<object, never>;

/** The module with its handler swapped for one that keeps what it was given. */
function capturing(mod: Module): { mod: Module; got: () => unknown } {
  let got: unknown;
  return { mod: { ...mod, handler: (a: unknown) => void (got = a) }, got: () => got };
}

/** What yargs does with `argv`: the handler's arguments, or its error's message. */
async function viaYargs(mod: Module, argv: string[]): Promise<{ args?: unknown; error?: string }> {
  const c = capturing(mod);
  try {
    await runWithYargs(argv, [c.mod]);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  return { args: c.got() };
}

async function loadAll(): Promise<Module[]> {
  const factories = await Promise.all(COMMANDS.map((c) => c.load()));
  return factories.map((f) => f(() => {}));
}

const WORDS = ['a.tar', '-', 'dir/x', 'x y', '0', '12', 'true', '', '.wh.x', 'layer.tar.gz', '/abs/path'];

/** One flag as a user might write it, right or wrong. */
function flagForms(name: string, spec: FlagSpec): fc.Arbitrary<string[]> {
  const names = [name, ...(spec.alias === undefined ? [] : typeof spec.alias === 'string' ? [spec.alias] : spec.alias)];
  const dash = (n: string) => (n.length === 1 ? `-${n}` : `--${n}`);
  const flag = fc.constantFrom(...names).map(dash);
  switch (spec.type) {
    case 'boolean':
      return fc.oneof(
        flag.map((f) => [f]),
        fc.constant([`--no-${name}`]),
        fc.constantFrom('true', 'false').map((v) => [`--${name}=${v}`]),
        fc.tuple(flag, fc.constantFrom('true', 'false')).map(([f, v]) => [f, v]),
      );
    case 'number':
      return fc.tuple(flag, fc.constantFrom('5', '0', '-1', '1.5', 'abc', '0x10')).chain(([f, v]) =>
        fc.constantFrom([f, v], [`--${name}=${v}`]),
      );
    default: {
      const values = spec.choices ? fc.oneof(fc.constantFrom(...spec.choices.map(String)), fc.constantFrom(...WORDS)) : fc.constantFrom(...WORDS);
      return fc.tuple(flag, values).chain(([f, v]) => fc.constantFrom([f, v], [`--${name}=${v}`], [f]));
    }
  }
}

/** A command line for `rec`'s command: its positionals (sometimes too few or too many) and flags in any order. */
function commandLine(rec: RecordedFlags): fc.Arbitrary<string[]> {
  const positionals = fc.tuple(
    ...rec.words.map((w) => fc.array(fc.constantFrom(...WORDS), { minLength: w.demanded ? 1 : 0, maxLength: w.variadic ? 3 : 1 })),
  );
  const flags = fc.array(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...rec.options.entries()).chain(([n, s]) => flagForms(n, s)) },
      { weight: 1, arbitrary: fc.constantFrom(['--bogus'], ['-z'], ['--help'], ['-h'], ['--version'], ['--'], ['extra'], ['-qz'], ['--no-bogus'], ['-qo', 'x'], ['-oq'], ['-o=x'], ['-ox'], ['-q=false']) },
    ),
    { maxLength: 6 },
  );
  return fc
    .tuple(positionals, flags, fc.boolean(), fc.array(fc.nat(), { maxLength: 10 }))
    .map(([pos, fl, dropOne, order]) => {
      const words = pos.flat();
      if (dropOne) words.pop();
      // Flags go between the positionals at positions drawn from `order`.
      const out = [...words];
      fl.forEach((f, i) => out.splice((order[i] ?? 0) % (out.length + 1), 0, ...f));
      return [rec.name, ...out];
    });
}

describe('the run without yargs', () => {
  it('understands every command builder', async () => {
    for (const mod of await loadAll()) expect(recordFlags(mod), String(mod.command)).toBeDefined();
  });

  it('takes the common command lines itself', async () => {
    const mods = await loadAll();
    const byName = (n: string) => mods.find((m) => String(m.command).startsWith(`${n} `)) as Module;
    const lines: string[][] = [
      ['unpack', 'layer.tar', '-o', 'out'],
      ['unpack', '-', '-o', 'out', '-q', '--whiteouts', 'xattr', '--userxattr'],
      ['pack', 'upper', '-o', 'layer.tar', '--force'],
      ['convert', 'l.tar', '--to', 'overlay', '-o', 'x.tar'],
      ['flatten', 'a.tar', 'b.tar', '-o', 'rootfs', '--uid-map', '0:1000:1'],
      ['hidden', 'image.tar', '--json', '--fail-on', 'secrets'],
      ['check', '-', '--strict'],
      ['ls', 'image.tar'],
      ['recover', 'image.tar', '/etc/shadow', '-o', 'x'],
    ];
    for (const argv of lines) {
      const mod = byName(argv[0] as string);
      const direct = parseDirect(mod, argv);
      expect(direct, argv.join(' ')).toBeDefined();
      expect(direct).toEqual((await viaYargs(mod, argv)).args);
    }
  });

  it('leaves help, --version, unknown flags and usage errors to yargs', async () => {
    const mods = await loadAll();
    const unpack = mods.find((m) => String(m.command).startsWith('unpack ')) as Module;
    for (const argv of [
      ['unpack', 'l.tar', '-o', 'x', '--help'],
      ['unpack', 'l.tar', '-o', 'x', '-h'],
      ['unpack', '--version'],
      ['unpack', 'l.tar'],
      ['unpack', 'l.tar', '-o', 'x', '--bogus'],
      ['unpack', 'l.tar', 'm.tar', '-o', 'x'],
      ['unpack', 'l.tar', '-o', 'x', '--whiteouts', 'nope'],
      ['unpack', 'l.tar', '-o', 'x', '--', '-y'],
      ['-q', 'unpack', 'l.tar', '-o', 'x'],
    ]) {
      expect(parseDirect(unpack, argv), argv.join(' ')).toBeUndefined();
    }
  });

  it('gives the handler what yargs gives it, for any command line it takes', async () => {
    const mods = await loadAll();
    let taken = 0;
    let total = 0;
    for (const mod of mods) {
      const rec = recordFlags(mod) as RecordedFlags;
      await fc.assert(
        fc.asyncProperty(commandLine(rec), async (argv) => {
          total++;
          const direct = parseDirect(mod, argv);
          if (direct === undefined) return;
          taken++;
          const y = await viaYargs(mod, argv);
          expect(y.error, `yargs refused what the direct run took: ${JSON.stringify(argv)}`).toBeUndefined();
          expect(direct, JSON.stringify(argv)).toEqual(y.args);
        }),
        fcParams(150),
      );
    }
    // The property means something only if many lines are taken, and many are not.
    expect(taken).toBeGreaterThan(total / 5);
    expect(taken).toBeLessThan(total);
  }, 600_000);
});
