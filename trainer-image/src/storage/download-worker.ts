// A download thread of download-pool.ts: runs downloadS3Object (ETag pin, sha256 while writing, retries,
// classification) for each request and answers with nothing or the error, rebuilt on the other side.
import { parentPort, workerData } from 'node:worker_threads';
import type { StorageConfig } from './config.ts';
import { StorageError } from './errors.ts';
import { downloadS3Object, type S3Object, s3Client } from './s3.ts';

export interface DownloadRequest {
  id: number;
  bucket: string;
  object: S3Object;
  path: string;
  uri: string;
}

export type DownloadReply =
  | { id: number; ok: true }
  | {
      id: number;
      ok: false;
      storage?: { uri: string; reason: StorageError['reason']; status?: number };
      message: string;
    };

const port = parentPort;
if (port) {
  const client = s3Client(workerData as StorageConfig);
  port.on('message', (r: DownloadRequest) => {
    downloadS3Object(client, r.bucket, r.object, r.path, r.uri).then(
      () => port.postMessage({ id: r.id, ok: true } satisfies DownloadReply),
      (error: Error) =>
        port.postMessage({
          id: r.id,
          ok: false,
          message: error.message,
          ...(error instanceof StorageError
            ? { storage: { uri: error.uri, reason: error.reason, ...(error.status ? { status: error.status } : {}) } }
            : {}),
        } satisfies DownloadReply),
    );
  });
}
