// Several S3 objects downloaded at once: on this thread and on `lanes - 1` worker threads. One Node thread spends
// about 2.7 CPU-s per GiB reading HTTP in 64 KiB chunks, hashing and writing; boto3 spreads the same work over
// threads. Worker threads are started only for inputs large enough to repay their start-up (about 0.2 CPU-s each,
// mostly loading the AWS SDK), and this thread takes a share so that one fewer is needed.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { StorageConfig } from './config.ts';
import type { DownloadReply, DownloadRequest } from './download-worker.ts';
import { StorageError } from './errors.ts';
import type { S3Object } from './s3.ts';

type Download = (bucket: string, object: S3Object, path: string, uri: string) => Promise<void>;

export interface DownloadPool {
  download: Download;
  /** Stops the worker threads; their downloads still running reject (callers remove their temporary files). */
  close(): Promise<void>;
}

/** Parallel downloads for an input of `objects` objects and `bytes` bytes: 1 (no worker thread) when not worth it. */
export function poolSize(objects: number, bytes: number): number {
  const from = Number(process.env.LOTA_S3_PARALLEL_FROM_MIB ?? 256) * 1024 * 1024;
  const lanes = Number(process.env.LOTA_S3_DOWNLOAD_THREADS ?? Math.min(4, availableParallelism()));
  return objects >= 2 && bytes >= from ? Math.max(1, Math.min(lanes, objects)) : 1;
}

/** `lanes` downloads at once: `here` on this thread, the others on worker threads. */
export function downloadPool(config: StorageConfig, lanes: number, here: Download): DownloadPool {
  const workers = Array.from(
    { length: lanes - 1 },
    () => new Worker(new URL('./download-worker.ts', import.meta.url), { workerData: config }),
  );
  type Lane = Worker | 'here';
  const idle: Lane[] = ['here', ...workers];
  const waiting: ((lane: Lane | undefined) => void)[] = [];
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let closing: Promise<void> | undefined;
  const release = (lane: Lane) => {
    const next = waiting.shift();
    if (next) next(lane);
    else idle.push(lane);
  };
  const fail = (error: Error) => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
    for (const next of waiting.splice(0)) next(undefined);
  };
  for (const w of workers) {
    w.on('message', (m: DownloadReply) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      release(w);
      if (!p) return;
      if (m.ok) p.resolve();
      else if (m.storage) {
        const { uri, reason, status } = m.storage;
        p.reject(new StorageError(uri, reason, m.message.slice(uri.length + 2), status));
      } else p.reject(new Error(m.message));
    });
    w.on('error', fail);
  }
  const take = (): Promise<Lane | undefined> => {
    if (closing) return Promise.resolve(undefined);
    const lane = idle.pop();
    return lane ? Promise.resolve(lane) : new Promise((resolve) => waiting.push(resolve));
  };
  return {
    async download(bucket, object, path, uri) {
      const lane = await take();
      if (!lane) throw new Error('download pool closed');
      if (lane === 'here') {
        try {
          await here(bucket, object, path, uri);
        } finally {
          release(lane);
        }
        return;
      }
      const id = nextId++;
      await new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        lane.postMessage({ id, bucket, object, path, uri } satisfies DownloadRequest);
      });
    },
    close() {
      closing ??= Promise.all(workers.map((w) => w.terminate())).then(() => fail(new Error('download pool closed')));
      return closing;
    },
  };
}
