/**
 * pack refuses bad input with exit 1 and one line, and leaves no output. Each
 * of these once printed its line and then never exited: the hashing thread
 * (src/tar/digest.ts) was started for the layer's digest, and a stream that
 * failed before it ever waited for the thread left it holding the process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failureProblems, runCli, show } from '../helpers/hostile-cli.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-pack-faults-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

// A directory with a regular file named like a whiteout: an OCI layer cannot hold it (SPEC.md §7).
const upper = path.join(base, 'upper');
fs.mkdirSync(path.join(upper, 'a'), { recursive: true });
fs.writeFileSync(path.join(upper, 'a', 'big'), Buffer.alloc(3 << 20, 0x61));
fs.writeFileSync(path.join(upper, 'a', '.wh.foo'), 'x');

const cases: { name: string; args: (out: string) => string[]; why: RegExp }[] = [
  { name: 'a missing directory', args: (out) => ['pack', path.join(base, 'missing'), '-o', out], why: /no such directory/ },
  { name: "a real file named '.wh.*'", args: (out) => ['pack', upper, '-o', out], why: /starts with '\.wh\.'/ },
  { name: "a real file named '.wh.*', gzip", args: (out) => ['pack', upper, '-o', out, '--compress', 'gzip'], why: /starts with '\.wh\.'/ },
  { name: "a real file named '.wh.*', to standard output", args: () => ['pack', upper, '-o', '-'], why: /starts with '\.wh\.'/ },
];

describe('pack of bad input', () => {
  for (const c of cases) {
    it(`${c.name}: exit 1, one line, no output, and the process ends`, async () => {
      const out = path.join(base, `${c.name.replace(/\W+/g, '-')}.tar`);
      // The timeout is the hang guard: a run still going after it is reported as a hang, not a pass.
      const r = await runCli(c.args(out), { timeoutMs: 20_000 });
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(r.stderr).toMatch(c.why);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.readdirSync(base).filter((f) => f.includes('.whiteout-'))).toEqual([]);
    }, 30_000);
  }
});
