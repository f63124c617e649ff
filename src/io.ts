/** Byte sources and sinks for files and standard streams. */
import fs from 'node:fs';
import { WhiteoutError, hasCode } from './errors.js';

const CHUNK = 1 << 20;

/** Bytes of a file, or of standard input for `-`. */
export async function* readSource(file: string): AsyncGenerator<Buffer> {
  if (file === '-') {
    for await (const chunk of process.stdin) yield chunk as Buffer;
    return;
  }
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    if (hasCode(e, 'ENOENT')) throw new WhiteoutError(file, 'no such file', 'input');
    if (hasCode(e, 'EACCES')) throw new WhiteoutError(file, 'permission denied', 'io');
    throw e;
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new WhiteoutError(file, 'is a directory, not a layer file', 'input');
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      yield bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Write a byte stream to standard output, honouring back-pressure. A reader
 * that goes away (`| head`) ends the output quietly, as for any Unix tool.
 */
export async function writeStdout(data: AsyncIterable<Buffer>): Promise<void> {
  let gone = false;
  let failure: Error | undefined;
  const onError = (err: Error) => {
    if (hasCode(err, 'EPIPE')) gone = true;
    else failure = err;
  };
  process.stdout.on('error', onError);
  try {
    for await (const chunk of data) {
      if (gone) return;
      if (failure) throw failure;
      if (!process.stdout.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            process.stdout.off('drain', done);
            process.stdout.off('error', done);
            resolve();
          };
          process.stdout.once('drain', done);
          process.stdout.once('error', done);
        });
      }
    }
    if (failure) throw failure;
  } finally {
    process.stdout.off('error', onError);
  }
}
