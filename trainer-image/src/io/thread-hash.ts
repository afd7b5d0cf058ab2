// A sha256 computed on a worker thread, so that hashing a stream runs beside the thread that reads, merges and
// writes it (node:crypto's hash is synchronous: on the main thread it would take turns with everything else).
import { Worker } from 'node:worker_threads';

// CommonJS, evaluated in the worker: one hash; each message is the next bytes, or null for the digest.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
parentPort.on('message', (bytes) => {
  if (bytes === null) parentPort.postMessage(hash.digest('hex'));
  else {
    hash.update(bytes);
    parentPort.postMessage(null);
  }
});
`;

/** Each one is a thread until digest() or close(): one of them must be called, or the thread keeps the process alive. */
export class ThreadHash {
  private readonly worker = new Worker(WORKER, { eval: true });
  /** One per message sent, answered in order. */
  private readonly waiting: { resolve: (reply: string | null) => void; reject: (error: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor() {
    this.worker.on('message', (reply: string | null) => this.waiting.shift()?.resolve(reply));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', () => this.fail(new Error('the hashing thread exited')));
  }

  /** From now on every update and digest rejects, the pending ones too. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  private send(message: Uint8Array | null, transfer: ArrayBuffer[] = []): Promise<string | null> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.worker.postMessage(message, transfer);
      this.waiting.push({ resolve, reject });
    });
  }

  /**
   * Hashes `bytes` next. Bytes on a SharedArrayBuffer are read in place: the caller must leave them unchanged until
   * the promise resolves. Others are copied first.
   */
  async update(bytes: Uint8Array): Promise<void> {
    if (bytes.buffer instanceof SharedArrayBuffer) {
      await this.send(bytes);
    } else {
      const copy = new Uint8Array(bytes); // (not bytes.slice(): a Buffer's shares its memory)
      await this.send(copy, [copy.buffer]);
    }
  }

  /** The hex digest of everything given; the thread ends. */
  async digest(): Promise<string> {
    const hex = (await this.send(null)) as string;
    await this.close();
    return hex;
  }

  /** Ends the thread (a hash given up). */
  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.fail(new Error('the hashing thread was closed'));
    await this.worker.terminate();
  }
}
