/**
 * The running command's help is not laid out (src/cli/main.ts skipHelpCache):
 * yargs did it after every handler, ~20 ms a run, for a failure we report in
 * one line. The test watches yargs' own internal, so a yargs that renames it
 * shows up here instead of the saving quietly going away.
 */
import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { skipHelpCache } from '../src/cli/main.js';
import { runCli, show } from './helpers/hostile-cli.js';

interface Usage {
  hasCachedHelpMessage: () => boolean;
}
interface Internals {
  getInternalMethods: () => { getUsageInstance: () => Usage };
}

async function runOnce(skip: boolean): Promise<boolean> {
  const cli = yargs(['go', '--n', '1'])
    .command('go', 'a command', (y) => y.option('n', { type: 'number', describe: 'a number' }), async () => {})
    .strict();
  if (skip) skipHelpCache(cli);
  await cli.parseAsync();
  return (cli as unknown as Internals).getInternalMethods().getUsageInstance().hasCachedHelpMessage();
}

describe('startup: the help of a running command', () => {
  it('is laid out by yargs unless skipped, and not when skipped', async () => {
    expect(await runOnce(false)).toBe(true);
    expect(await runOnce(true)).toBe(false);
  });

  it('is still shown for --help, and a usage error is still one line', async () => {
    const help = await runCli(['unpack', '--help']);
    expect(help.code, show(help)).toBe(0);
    expect(help.stdout.toString()).toMatch(/--no-digest|--digest/);
    const bad = await runCli(['unpack', 'layer.tar']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual(['whiteout: usage: Missing required argument: output (see whiteout --help)']);
  });
});
