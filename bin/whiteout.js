#!/usr/bin/env node
// The CLI entry point: the compiled TypeScript lives in dist/ (built by `npm ci` via `prepare`).
import { tuneHeapGrowth } from '../dist/cli/heap.js';
import { main } from '../dist/cli/main.js';

// Before any work: how V8's old generation may grow (SPEC.md §10).
tuneHeapGrowth();

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`whiteout: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
