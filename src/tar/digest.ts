/**
 * sha256 of a stream as it passes: the diffID of an uncompressed layer, the
 * digest of a compressed one, without reading it twice.
 */
import { createHash } from 'node:crypto';

export interface DigestedStream {
  stream: AsyncIterable<Buffer>;
  /** "sha256:<hex>" and the byte count; only once `stream` has been read to the end. */
  result: () => { digest: string; size: number };
}

export function digestPassThrough(source: AsyncIterable<Buffer>): DigestedStream {
  const hash = createHash('sha256');
  let size = 0;
  let digest: string | undefined;
  async function* stream(): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
    digest = `sha256:${hash.digest('hex')}`;
  }
  return {
    stream: stream(),
    result() {
      // A digest of part of a stream would be a wrong answer, not a partial one.
      if (digest === undefined) throw new Error('digest asked for before the stream was read to the end');
      return { digest, size };
    },
  };
}
