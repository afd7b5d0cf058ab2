// s3:// with the AWS SDK v3: resolve (HeadObject, else ListObjectsV2 of the prefix), download (ranged and parallel for
// large objects, as boto3's download_file does; pinned to the resolved ETag with If-Match; sha256 checked against what
// the object reports), upload (lib-storage multipart with SHA-256 part checksums). An object becomes visible only when
// its PutObject or CompleteMultipartUpload succeeds, so a killed upload leaves no partial object behind.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { formatArtifactUri, type S3Uri } from '@lota/api/uri';
import type { StorageConfig } from './config.ts';
import { StorageError } from './errors.ts';
import { writeHashed } from './hashing.ts';
import { withRetry } from './retry.ts';

export const SHA256_METADATA = 'lota-sha256';
const PART_BYTES = 16 * 1024 * 1024;
const RANGE_BYTES = Number(process.env.LOTA_S3_RANGE_MIB ?? 8) * 1024 * 1024;
const RANGE_CONCURRENCY = Number(process.env.LOTA_S3_RANGE_CONCURRENCY ?? 8);
/**
 * Objects at least this large are fetched in parallel ranges. Off by default: on a shared 2-core machine (1 GiB from
 * versitygw, 2026-11-30) one stream measured 190–250 MiB/s and 8 parallel 8 MiB ranges 22–114 MiB/s, although boto3's
 * parallel ranges reached 250–490 MiB/s against the same server, so the cost is on our side (not found yet); stores
 * far away (AWS S3), where one stream is latency-bound, can turn it on with LOTA_S3_RANGED_FROM_MIB.
 */
const RANGED_FROM = Number(process.env.LOTA_S3_RANGED_FROM_MIB ?? Number.POSITIVE_INFINITY) * 1024 * 1024;

export interface S3Object {
  /** Path relative to the input (the object's name below the prefix; its basename for a single object). */
  rel: string;
  key: string;
  size: number;
  etag: string;
  sha256?: string;
}

export interface S3Listing {
  single: boolean;
  objects: S3Object[];
}

export function s3Client(config: StorageConfig): S3Client {
  return new S3Client({
    region: config.s3.region,
    ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}),
    forcePathStyle: config.s3.forcePathStyle,
    // Retries are ours (retry.ts), so that a persistent failure is classified once.
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const unquote = (etag: string | undefined) => (etag ?? '').replace(/^"|"$/g, '');

/** The object `uri` names, else every object under it as a prefix; NotFound when neither exists. */
export async function listS3(client: S3Client, u: S3Uri): Promise<S3Listing> {
  const uri = formatArtifactUri(u);
  const key = u.path.slice(1);
  if (key !== '') {
    const head = await withRetry(uri, 'HeadObject', () =>
      client.send(new HeadObjectCommand({ Bucket: u.bucket, Key: key })),
    ).catch((error: StorageError) => {
      if (error.reason === 'NotFound') return undefined;
      throw error;
    });
    if (head) {
      const sha256 = head.Metadata?.[SHA256_METADATA];
      const rel = key.slice(key.lastIndexOf('/') + 1);
      return {
        single: true,
        objects: [{ rel, key, size: head.ContentLength ?? 0, etag: unquote(head.ETag), ...(sha256 ? { sha256 } : {}) }],
      };
    }
  }
  const prefix = key === '' ? '' : `${key}/`;
  const objects: S3Object[] = [];
  let token: string | undefined;
  do {
    const page = await withRetry(uri, 'ListObjectsV2', () =>
      client.send(
        new ListObjectsV2Command({ Bucket: u.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
      ),
    );
    for (const o of page.Contents ?? []) {
      if (!o.Key || o.Key.endsWith('/')) continue;
      objects.push({ rel: o.Key.slice(prefix.length), key: o.Key, size: o.Size ?? 0, etag: unquote(o.ETag) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (objects.length === 0) {
    throw new StorageError(uri, 'NotFound', 'no such object, and no object under it as a prefix (HTTP 404)', 404);
  }
  objects.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { single: false, objects };
}

/** The content identity of a listing: the ETag of one object, or the sha256 of the prefix's keys, sizes and ETags. */
export function s3Revision(listing: S3Listing): string {
  if (listing.single) return listing.objects[0]?.etag ?? '';
  const text = listing.objects.map((o) => `${o.rel} ${o.size} ${o.etag}\n`).join('');
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

function reportedSha256(meta: Record<string, string> | undefined, checksum: string | undefined): string | undefined {
  if (meta?.[SHA256_METADATA]) return meta[SHA256_METADATA];
  // A full-object ChecksumSHA256 (a multipart one ends in -<parts> and covers the parts' checksums instead).
  if (checksum && !checksum.includes('-')) return Buffer.from(checksum, 'base64').toString('hex');
  return undefined;
}

/** Downloads one object, pinned to its ETag, into `path`; verifies size and, where the object reports it, sha256. */
export async function downloadS3Object(
  client: S3Client,
  bucket: string,
  object: S3Object,
  path: string,
  uri: string,
): Promise<void> {
  const written =
    object.size >= RANGED_FROM
      ? await downloadRanged(client, bucket, object, path, uri)
      : await withRetry(uri, 'GetObject', async () => {
          const r = await client.send(
            new GetObjectCommand({
              Bucket: bucket,
              Key: object.key,
              IfMatch: `"${object.etag}"`,
              ChecksumMode: 'ENABLED',
            }),
          );
          const w = await writeHashed(r.Body as NodeJS.ReadableStream, path, object.size);
          return { ...w, reported: reportedSha256(r.Metadata, r.ChecksumSHA256) };
        });
  if (written.bytes !== object.size) {
    throw new StorageError(
      uri,
      'InputChanged',
      `${object.key}: got ${written.bytes} bytes, the store reports ${object.size}`,
    );
  }
  const expected = object.sha256 ?? written.reported;
  if (expected && expected !== written.sha256) {
    throw new StorageError(
      uri,
      'InputChanged',
      `${object.key}: sha256 ${written.sha256} differs from the reported ${expected}`,
    );
  }
}

/** Parallel ranged GETs written at their offsets; the sha256 is computed in order as ranges complete. */
async function downloadRanged(client: S3Client, bucket: string, object: S3Object, path: string, uri: string) {
  const file = await open(path, 'w');
  const hash = createHash('sha256');
  const count = Math.ceil(object.size / RANGE_BYTES);
  const done = new Map<number, Buffer>();
  let hashed = 0;
  let next = 0;
  let bytes = 0;
  let reported: string | undefined;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const start = i * RANGE_BYTES;
      const end = Math.min(object.size, start + RANGE_BYTES) - 1;
      const body = await withRetry(uri, 'GetObject (range)', async () => {
        const r = await client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: object.key,
            IfMatch: `"${object.etag}"`,
            Range: `bytes=${start}-${end}`,
          }),
        );
        if (i === 0) reported = reportedSha256(r.Metadata, undefined);
        return Buffer.from(await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      });
      await file.write(body, 0, body.length, start);
      bytes += body.length;
      done.set(i, body);
      while (done.has(hashed)) {
        hash.update(done.get(hashed) as Buffer);
        done.delete(hashed);
        hashed++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(RANGE_CONCURRENCY, count) }, worker));
  } finally {
    await file.close();
  }
  return { bytes, sha256: hash.digest('hex'), reported };
}

/** sha256 of a local file. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Uploads a file as one object (multipart when large); it becomes visible only complete. Returns its sha256. */
export async function uploadS3File(client: S3Client, bucket: string, key: string, path: string, uri: string) {
  const sha256 = await sha256File(path);
  await withRetry(uri, 'upload', () =>
    new Upload({
      client,
      params: {
        Bucket: bucket,
        Key: key,
        Body: createReadStream(path),
        ChecksumAlgorithm: 'SHA256',
        Metadata: { [SHA256_METADATA]: sha256 },
      },
      partSize: PART_BYTES,
      queueSize: 4,
      leavePartsOnError: false,
    }).done(),
  );
  return sha256;
}
