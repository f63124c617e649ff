/**
 * The common run without loading yargs: a well-formed command line is parsed
 * with yargs-parser (yargs' own parser) from the flags the command's yargs
 * builder declares, and handed to the same handler. Loading yargs, its help
 * layout and its 40-odd modules is ~75 ms of every run, more than a 10,000-
 * whiteout layer takes to unpack (SPEC.md §10).
 *
 * yargs stays the authority. Whatever this module does not understand, or
 * anything yargs would answer with something other than the handler's run
 * (--help, --version, a usage error, an unknown flag, a missing or extra
 * argument, a bad choice, `--`), returns undefined, and the caller runs yargs
 * as before, which gives the help or the one-line error. So an error is never
 * worded here, and a run that reaches a handler gets the arguments yargs would
 * have given it: test/cli-direct-parse.test.ts compares the two over every
 * command and many command lines.
 */
import parser from 'yargs-parser';
import type { Argv, CommandModule } from 'yargs';

type FlagType = 'string' | 'boolean' | 'number';

/** The keys of an option or positional this parser understands; any other sends the run to yargs. */
export interface FlagSpec {
  type?: FlagType;
  alias?: string | readonly string[];
  default?: unknown;
  choices?: readonly unknown[];
  demandOption?: boolean | string;
  coerce?: (value: unknown) => unknown;
  describe?: string;
  /** Positionals only: yargs takes a positional's arity from the command string (`<x..>`), not from this. */
  array?: boolean;
}

const OPTION_KEYS = new Set(['type', 'alias', 'default', 'choices', 'demandOption', 'coerce', 'describe']);
const POSITIONAL_KEYS = new Set(['type', 'array', 'demandOption', 'describe']);

/**
 * Stands in for yargs' `Argv` while a command's builder runs, and writes down
 * what it declares. It has only the methods our builders call; a builder that
 * calls another one throws, and the run goes to yargs.
 */
class FlagRecorder {
  readonly options = new Map<string, FlagSpec>();
  readonly positionals = new Map<string, FlagSpec>();
  configuration: Record<string, boolean> = {};
  understood = true;

  option(name: string, spec: FlagSpec): this {
    if (!Object.keys(spec).every((k) => OPTION_KEYS.has(k))) this.understood = false;
    this.options.set(name, spec);
    return this;
  }

  positional(name: string, spec: FlagSpec): this {
    if (!Object.keys(spec).every((k) => POSITIONAL_KEYS.has(k))) this.understood = false;
    this.positionals.set(name, spec);
    return this;
  }

  parserConfiguration(config: Record<string, boolean>): this {
    this.configuration = { ...this.configuration, ...config };
    return this;
  }

  example(): this {
    return this;
  }
}

/** A word of a command string after the name: `<x>` demanded, `[x]` optional, `..` variadic. */
export interface PositionalWord {
  name: string;
  demanded: boolean;
  variadic: boolean;
}

/** The command's name and its positional words; undefined for a form this parser does not take (aliases). */
function parseCommandString(command: string): { name: string; words: PositionalWord[] } | undefined {
  const [name, ...rest] = command.trim().split(/\s+/);
  if (name === undefined) return undefined;
  const words: PositionalWord[] = [];
  for (const w of rest) {
    const m = /^([<[])([^<>[\]|.]+)(\.\.)?([>\]])$/.exec(w);
    if (!m || (m[1] === '<') !== (m[4] === '>')) return undefined;
    words.push({ name: m[2] as string, demanded: m[1] === '<', variadic: m[3] !== undefined });
  }
  return { name, words };
}

function aliasesOf(spec: FlagSpec): string[] {
  return spec.alias === undefined ? [] : typeof spec.alias === 'string' ? [spec.alias] : [...spec.alias];
}

/** What a command's builder declares, or undefined when it does more than FlagRecorder understands. */
export interface RecordedFlags {
  name: string;
  words: PositionalWord[];
  options: ReadonlyMap<string, FlagSpec>;
  positionals: ReadonlyMap<string, FlagSpec>;
  configuration: Readonly<Record<string, boolean>>;
}

export function recordFlags(mod: CommandModule<object, never>): RecordedFlags | undefined {
  const cmd = typeof mod.command === 'string' ? parseCommandString(mod.command) : undefined;
  if (!cmd || typeof mod.builder !== 'function') return undefined;
  const rec = new FlagRecorder();
  try {
    // The recorder has the part of Argv our builders use; see FlagRecorder.
    mod.builder(rec as unknown as Argv<object>);
  } catch {
    return undefined;
  }
  if (!rec.understood) return undefined;
  for (const name of rec.positionals.keys()) if (!cmd.words.some((w) => w.name === name)) return undefined;
  return { ...cmd, options: rec.options, positionals: rec.positionals, configuration: rec.configuration };
}

/** The flags yargs itself adds to every command. */
const BUILT_IN: readonly [string, FlagSpec][] = [
  ['help', { type: 'boolean', alias: 'h' }],
  ['version', { type: 'boolean' }],
];

/**
 * The arguments yargs would hand `mod`'s handler for `argv` (whose first word
 * is the command's name), or undefined when the run should go to yargs.
 */
export function parseDirect(mod: CommandModule<object, never>, argv: readonly string[]): parser.Arguments | undefined {
  const rec = recordFlags(mod);
  if (!rec || argv[0] !== rec.name || argv.includes('--')) return undefined;

  const flags = new Map<string, FlagSpec>([...BUILT_IN, ...rec.options]);
  const opts = {
    alias: {} as Record<string, string[]>,
    array: [] as string[],
    boolean: [] as string[],
    string: [] as string[],
    number: [] as string[],
    default: {} as Record<string, unknown>,
    coerce: {} as Record<string, (v: unknown) => unknown>,
    key: {} as Record<string, boolean>,
  };
  const declare = (name: string, spec: FlagSpec) => {
    opts.key[name] = true;
    if (spec.type !== undefined) opts[spec.type].push(name);
    const aliases = aliasesOf(spec);
    if (aliases.length > 0) opts.alias[name] = aliases;
    if ('default' in spec) opts.default[name] = spec.default;
    if (spec.coerce) opts.coerce[name] = spec.coerce;
  };
  for (const [name, spec] of flags) declare(name, spec);
  for (const w of rec.words) {
    const type = rec.positionals.get(w.name)?.type;
    declare(w.name, type !== undefined ? { type } : {});
    if (w.variadic) {
      opts.array.push(w.name);
      opts.default[w.name] = [];
    }
  }
  const configuration = { 'parse-positional-numbers': false, ...rec.configuration };

  const parsed = parser.detailed([...argv], { ...opts, configuration: { ...configuration, 'populate--': true } });
  if (parsed.error) return undefined;
  const args = parsed.argv;
  if (args['help'] === true || args['version'] === true) return undefined;

  // Every key the parse may set: the flags, their aliases, their camelCase forms, the positionals.
  const known = new Set<string>(['_', '--']);
  for (const [key, aliases] of Object.entries(parsed.aliases)) {
    known.add(key);
    for (const a of aliases) known.add(a);
  }
  for (const name of Object.keys(opts.key)) known.add(name);
  // strict(): yargs refuses a flag it does not know.
  if (!Object.keys(args).every((k) => known.has(k))) return undefined;
  // A positional given as a flag (`--layer x`) merges with yargs' rules for it; leave that to yargs.
  for (const w of rec.words) {
    const v: unknown = args[w.name];
    if (w.variadic ? !Array.isArray(v) || v.length > 0 : v !== undefined) return undefined;
  }
  if (args['--'] !== undefined && (args['--'] as unknown[]).length > 0) return undefined;
  delete args['--'];

  // The words after the command fill its positionals, in order; too few or too many is a usage error.
  const rest = args._.slice(1).map(String);
  const demanded = rec.words.filter((w) => w.demanded).length;
  const variadic = rec.words.some((w) => w.variadic);
  if (rest.length < demanded || (!variadic && rest.length > rec.words.length)) return undefined;
  const given: [string, string[]][] = [];
  for (const w of rec.words) {
    if (w.variadic) given.push([w.name, rest.splice(0)]);
    else if (rest.length > 0) given.push([w.name, [rest.shift() as string]]);
  }

  // yargs reads the positionals' values again as `--name value`, with the command's flags
  // (command.js postProcessPositionals): a value is typed, and a lone `-` reads as ''.
  const unparsed: string[] = [];
  for (const [name, values] of given) for (const v of values) unparsed.push(`--${name}`, v);
  if (unparsed.length > 0) {
    const again = parser.detailed(unparsed, { ...opts, configuration: { ...configuration, 'populate--': false } });
    if (again.error) return undefined;
    const keys = new Set<string>();
    for (const [name] of given) {
      keys.add(name);
      for (const a of again.aliases[name] ?? []) keys.add(a);
    }
    for (const k of Object.keys(again.argv)) if (keys.has(k)) args[k] = again.argv[k];
  }
  args._ = [rec.name, ...rest];

  // yargs' checks after the parse: demanded options, and choices.
  for (const [name, spec] of rec.options) {
    const v: unknown = args[name];
    if (spec.demandOption && v === undefined) return undefined;
    if (spec.choices && v !== undefined && !(Array.isArray(v) ? v : [v]).every((x) => spec.choices?.includes(x))) return undefined;
  }
  args['$0'] = 'whiteout';
  return args;
}
