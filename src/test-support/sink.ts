import { Writable } from 'node:stream';

/** A writable stream that keeps what is written to it, for asserting the exact text a user sees. */
export function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return {
    stream: new Writable({
      write: (chunk: Buffer, _enc, done) => {
        text += chunk.toString();
        done();
      },
    }),
    text: () => text,
  };
}
