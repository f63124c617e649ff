// A long-lived CLI host for the hostile corpus: it loads the CLI once and runs
// `main(argv)` — the whole CLI but bin/whiteout.js's five-line wrapper — once
// per request, capturing stdout and stderr. A node start costs ~180 ms of CPU;
// the corpus makes ~1,000 runs, so starting one process per run would blow the
// test budget. A crash or a hang here is reported as the run's own crash or
// hang (the parent respawns the host). The device-form unpack of every case
// still runs as a real process (see run.ts).
import { main } from '../../dist/cli/main.js';

const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);

function capture(into) {
  return (chunk, enc, cb) => {
    into.push(Buffer.isBuffer(chunk) ? Buffer.from(chunk) : Buffer.from(String(chunk), typeof enc === 'string' ? enc : 'utf8'));
    const done = typeof enc === 'function' ? enc : cb;
    if (done) process.nextTick(done);
    return true;
  };
}

let queue = Promise.resolve();
process.on('message', (req) => {
  queue = queue.then(() => handle(req));
});

async function handle(req) {
  const out = [];
  const err = [];
  const savedEnv = { ...process.env };
  Object.assign(process.env, req.env ?? {});
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  let code;
  try {
    code = await main(req.argv);
  } catch (e) {
    // What bin/whiteout.js does with a rejection.
    err.push(Buffer.from(`whiteout: internal error: ${e instanceof Error ? e.message : String(e)}\n`));
    code = 1;
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    // main() adds its signal handlers on every call.
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
  }
  process.send({ id: req.id, code, stdout: Buffer.concat(out).toString('base64'), stderr: Buffer.concat(err).toString('utf8') });
}
