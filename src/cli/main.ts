/**
 * The command line: `whiteout <command>`. Each command is a small module that
 * parses its flags and calls the library (src/ops).
 */
import { cleanupPendingSync } from '../fs/atomic.js';
import { WhiteoutError } from '../errors.js';
import { parseDirect } from './direct-parse.js';
import { EXIT_USAGE, describeError, exitCodeFor } from './output.js';
import type { CommandModule } from 'yargs';
import type { Reporter } from './common.js';

type CommandFactory = (report: Reporter) => CommandModule<object, never>;

/**
 * Every command, loaded only when it is the one to run: importing all of them
 * (and the libraries behind them) cost 30–60 ms of startup, which a small layer
 * pays in full (SPEC.md §10). To add a command, add one line here.
 */
export const COMMANDS: readonly { name: string; load: () => Promise<CommandFactory> }[] = [
  { name: 'unpack', load: async () => (await import('./unpack.js')).unpackCommand as CommandFactory },
  { name: 'pack', load: async () => (await import('./pack.js')).packCommand as CommandFactory },
  { name: 'convert', load: async () => (await import('./convert.js')).convertCommand as CommandFactory },
  { name: 'flatten', load: async () => (await import('./flatten.js')).flattenCommand as CommandFactory },
  { name: 'ls', load: async () => (await import('./ls.js')).lsCommand as CommandFactory },
  { name: 'hidden', load: async () => (await import('./hidden.js')).hiddenCommand as CommandFactory },
  { name: 'recover', load: async () => (await import('./recover.js')).recoverCommand as CommandFactory },
  { name: 'check', load: async () => (await import('./check.js')).checkCommand as CommandFactory },
];

/**
 * The commands to register: only the one named by the first word when it names
 * one; all of them otherwise (top-level --help, --version, a typo to suggest for).
 */
async function commandsFor(argv: readonly string[]): Promise<CommandFactory[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  const chosen = COMMANDS.find((c) => c.name === first);
  return Promise.all((chosen ? [chosen] : COMMANDS).map((c) => c.load()));
}

function onSignal(signal: NodeJS.Signals, code: number): void {
  process.on(signal, () => {
    cleanupPendingSync();
    process.stderr.write(`whiteout: interrupted by ${signal}; partial output removed\n`);
    process.exit(code);
  });
}

/** The part of yargs' internals that caches a command's help text. */
interface HelpCache {
  getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } };
}

/**
 * yargs lays out the running command's help after calling its handler, to show
 * it should the handler fail; ours fail with one line (`.fail` below), never
 * with the help, so the layout (~20 ms of every run, string widths of every
 * option) is skipped. A yargs without this internal is left as it is.
 */
export function skipHelpCache(cli: object): void {
  const usage = (cli as HelpCache).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

/**
 * Parse with yargs and run the command it picks: help, --version, usage
 * errors, and any command line parseDirect leaves to it. yargs is imported
 * only here (~75 ms of modules).
 */
export async function runWithYargs(argv: string[], commands: CommandModule<object, never>[]): Promise<void> {
  const { default: yargs } = await import('yargs');
  const cli = yargs(argv)
    .scriptName('whiteout')
    .usage('$0 <command> [options]\n\nThe deletions inside container images: convert whiteouts between the OCI tar form and the overlayfs on-disk form, unpack and pack layers, flatten images, show what an image deletes but still ships, and lint layers and images.')
    .command(commands)
    .demandCommand(1, 'a command is needed: unpack, pack, convert, flatten, ls, check, hidden or recover')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    // Wrapped only when shown: yargs lays out the help before running any command,
    // and laying it out to a width was ~50 ms of every run.
    .wrap(argv.includes('--help') || argv.includes('-h') ? Math.min(100, process.stdout.columns || 100) : null)
    .fail((msg, err) => {
      if (err) throw err;
      throw new WhiteoutError('usage', `${msg} (see whiteout --help)`, 'usage');
    });
  skipHelpCache(cli);
  await cli.parseAsync();
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  onSignal('SIGINT', 130);
  onSignal('SIGTERM', 143);
  let exitCode = 0;
  const factories = await commandsFor(argv);
  const commands = factories.map((f) => f((c) => (exitCode = c)));
  try {
    // A well-formed run of one command skips yargs; anything else goes through it (src/cli/direct-parse.ts).
    const only = commands.length === 1 ? commands[0] : undefined;
    const direct = only ? parseDirect(only, argv) : undefined;
    if (only?.handler && direct) await only.handler(direct as never);
    else await runWithYargs(argv, commands);
  } catch (e) {
    const { line, code } = describeError(e);
    process.stderr.write(`${line}\n`);
    return e instanceof WhiteoutError && e.code === 'usage' ? EXIT_USAGE : exitCodeFor(code);
  }
  return exitCode;
}
