/**
 * The command line: `whiteout <command>`. Each command is a small module that
 * parses its flags and calls the library (src/ops).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cleanupPendingSync } from '../fs/atomic.js';
import { WhiteoutError } from '../errors.js';
import { EXIT_USAGE, describeError, exitCodeFor } from './output.js';
import { checkCommand } from './check.js';
import { convertCommand } from './convert.js';
import { flattenCommand } from './flatten.js';
import { hiddenCommand } from './hidden.js';
import { lsCommand } from './ls.js';
import { packCommand } from './pack.js';
import { recoverCommand } from './recover.js';
import { unpackCommand } from './unpack.js';

function onSignal(signal: NodeJS.Signals, code: number): void {
  process.on(signal, () => {
    cleanupPendingSync();
    process.stderr.write(`whiteout: interrupted by ${signal}; partial output removed\n`);
    process.exit(code);
  });
}

export async function main(argv: string[] = hideBin(process.argv)): Promise<number> {
  onSignal('SIGINT', 130);
  onSignal('SIGTERM', 143);
  let exitCode = 0;
  const cli = yargs(argv)
    .scriptName('whiteout')
    .usage('$0 <command> [options]\n\nConvert container-image whiteouts between the OCI tar form and the overlayfs on-disk form.')
    .command(unpackCommand((c) => (exitCode = c)))
    .command(packCommand((c) => (exitCode = c)))
    .command(convertCommand((c) => (exitCode = c)))
    .command(flattenCommand((c) => (exitCode = c)))
    .command(lsCommand((c) => (exitCode = c)))
    .command(hiddenCommand((c) => (exitCode = c)))
    .command(recoverCommand((c) => (exitCode = c)))
    .command(checkCommand((c) => (exitCode = c)))
    .demandCommand(1, 'a command is needed: unpack, pack, convert, flatten, ls, check, hidden or recover')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new WhiteoutError('usage', `${msg} (see whiteout --help)`, 'usage');
    });
  try {
    await cli.parseAsync();
  } catch (e) {
    const { line, code } = describeError(e);
    process.stderr.write(`${line}\n`);
    return e instanceof WhiteoutError && e.code === 'usage' ? EXIT_USAGE : exitCodeFor(code);
  }
  return exitCode;
}
