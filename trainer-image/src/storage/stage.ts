// Staging around one trainer phase. Before it: every hf:// and s3:// input of the spec (and of LOTA_TICKET_REFS) is
// resolved to a content identity — once, at the first phase, recorded in <output>/phases/inputs.json so that later
// phases and retries read exactly the same files — and materialised in the content-keyed cache; an s3:// output is
// mirrored into a local directory. The phase then runs on file:// URIs only. After it: what the phase wrote is uploaded,
// phase records last (a phase counts as done only once its record is visible), and the URIs it reports are mapped back.
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { InputSummary } from '@lota/api/trainer-contract';
import {
  formatArtifactUri,
  type HfUri,
  isRemoteUri,
  joinArtifactUri,
  parseArtifactUri,
  resolveArtifactUri,
  type S3Uri,
} from '@lota/api/uri';
import { fill, shortHash } from './cache.ts';
import type { StorageConfig } from './config.ts';
import { downloadPool, poolSize } from './download-pool.ts';
import { StorageError } from './errors.ts';
import { downloadHfFile, type HfFile, listHf } from './hf.ts';
import { withRetry } from './retry.ts';
import { downloadS3Object, listS3, type S3Object, s3Client, s3Revision, uploadS3File } from './s3.ts';

export const INPUTS_RECORD = 'phases/inputs.json';

type Resolved =
  | { uri: string; scheme: 'hf'; revision: string; single: boolean; files: HfFile[]; bytes: number }
  | { uri: string; scheme: 's3'; revision: string; single: boolean; objects: S3Object[]; bytes: number };

interface InputsRecord {
  version: 1;
  inputs: Resolved[];
}

export interface StageOptions {
  spec: unknown;
  ticketRefs: Record<string, string>;
  pvcRoot: string;
  scratchDir: string;
  config: StorageConfig;
  log: (line: string) => void;
}

export interface Staged {
  spec: unknown;
  ticketRefs: Record<string, string>;
  inputs: InputSummary[];
  /** Bytes downloaded from the stores for the inputs (cache hits excluded). */
  downloadedBytes: number;
  /** `value` with every file:// URI of the local output directory turned back into the output's URI. */
  toRemote<T>(value: T): T;
  /** Uploads what the phase wrote (phase records last); a no-op for pvc:// and file:// outputs. */
  publish(): Promise<void>;
}

/** Every remote URI in the spec (the output excepted) and the ticket references. */
function remoteInputs(spec: unknown, ticketRefs: Record<string, string>): string[] {
  const found = new Set<string>();
  const visit = (v: unknown, top: boolean) => {
    if (typeof v === 'string') {
      if (/^(hf|s3):\/\//.test(v) && isRemoteUri(v)) found.add(v);
    } else if (Array.isArray(v)) for (const x of v) visit(x, false);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) if (!(top && k === 'output')) visit(x, false);
  };
  visit(spec, true);
  for (const uri of Object.values(ticketRefs)) visit(uri, false);
  return [...found].sort();
}

function replaceStrings<T>(value: T, map: (s: string) => string): T {
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') return map(v);
    if (Array.isArray(v)) return v.map(visit);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visit(x)]));
    return v;
  };
  return visit(value) as T;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

export async function stagePhase(o: StageOptions): Promise<Staged> {
  const outputUri = (o.spec as { output?: { uri?: string } }).output?.uri;
  if (typeof outputUri !== 'string') throw new StorageError('spec.output.uri', 'NotFound', 'missing');
  const output = parseArtifactUri(outputUri);
  const uris = remoteInputs(o.spec, o.ticketRefs);
  const identity: Staged = {
    spec: o.spec,
    ticketRefs: o.ticketRefs,
    inputs: [],
    downloadedBytes: 0,
    toRemote: (v) => v,
    publish: async () => {},
  };
  if (uris.length === 0 && output.scheme !== 's3') return identity;

  let client: S3Client | undefined;
  const s3 = () => {
    client ??= s3Client(o.config);
    return client;
  };
  const pvc = { pvcRoot: o.pvcRoot };

  // The output, locally: an s3:// prefix is mirrored (earlier phases' artifacts and records) into scratch.
  let localOut: string;
  const mirrored = new Map<string, { size: number; mtimeMs: number }>();
  if (output.scheme === 's3') {
    localOut = join(o.scratchDir, 'outputs', shortHash(outputUri));
    await mkdir(localOut, { recursive: true });
    const listing = await listS3(s3(), output).catch((error: StorageError) => {
      if (error.reason === 'NotFound' && error.status !== undefined) return undefined;
      throw error;
    });
    for (const object of listing && !listing.single ? listing.objects : []) {
      const path = join(localOut, object.rel);
      await mkdir(dirname(path), { recursive: true });
      await downloadS3Object(s3(), output.bucket, object, path, outputUri);
      const st = await stat(path);
      mirrored.set(object.rel, { size: st.size, mtimeMs: st.mtimeMs });
    }
  } else {
    localOut = resolveArtifactUri(output, pvc);
  }

  // Resolve: what earlier phases recorded, else what the ticket sources used for the same URI, else the store now.
  const recordPath = join(localOut, INPUTS_RECORD);
  const recorded = await readRecord(recordPath);
  const pins = await ticketPins(o, s3);
  const resolved: Resolved[] = [];
  let changed = false;
  for (const uri of uris) {
    const known = recorded?.inputs.find((r) => r.uri === uri);
    if (known) {
      resolved.push(known);
      continue;
    }
    changed = true;
    const parsed = parseArtifactUri(uri);
    if (parsed.scheme === 'hf') {
      const pin = pins.find((p) => p.uri === uri && p.scheme === 'hf')?.revision;
      const listing = await listHf(o.config, parsed, pin);
      if (pin) o.log(`${uri}: commit ${pin}, as the tickets it builds on`);
      const bytes = listing.files.reduce((n, f) => n + f.size, 0);
      resolved.push({ uri, scheme: 'hf', revision: listing.sha, single: listing.single, files: listing.files, bytes });
    } else {
      const listing = await listS3(s3(), parsed as S3Uri);
      const bytes = listing.objects.reduce((n, f) => n + f.size, 0);
      resolved.push({
        uri,
        scheme: 's3',
        revision: s3Revision(listing),
        single: listing.single,
        objects: listing.objects,
        bytes,
      });
    }
  }
  const upload = async (rel: string) => {
    const s3out = output as S3Uri;
    const key = `${s3out.path.slice(1)}${s3out.path === '/' ? '' : '/'}${rel}`;
    await uploadS3File(s3(), s3out.bucket, key, join(localOut, rel), joinArtifactUri(outputUri, rel));
  };
  if (changed && resolved.length > 0) {
    await writeAtomic(
      recordPath,
      `${JSON.stringify({ version: 1, inputs: resolved } satisfies InputsRecord, null, 2)}\n`,
    );
    if (output.scheme === 's3') await upload(INPUTS_RECORD);
  }

  // Materialise each input in the cache.
  const local = new Map<string, string>();
  let downloadedBytes = 0;
  for (const r of resolved) {
    const parsed = parseArtifactUri(r.uri);
    let root: string;
    let fetched = 0;
    if (r.scheme === 'hf') {
      const u = parsed as HfUri;
      root = join(o.config.cacheDir, 'hf', `${u.repoType}s`, ...u.repo.split('/'), r.revision);
      for (const f of r.files) {
        if (await fill(join(root, f.path), f.size, (tmp) => downloadHfFile(o.config, u, r.revision, f, tmp)))
          fetched += f.size;
      }
      local.set(r.uri, u.path === '/' ? root : join(root, u.path));
    } else {
      const u = parsed as S3Uri;
      root = join(o.config.cacheDir, 's3', shortHash(o.config.s3.endpoint ?? 'aws', u.bucket, u.path, r.revision));
      fetched = await fillS3(o.config, s3, u.bucket, r.objects, root, r.uri);
      local.set(r.uri, r.single ? join(root, r.objects[0]?.rel ?? '') : root);
    }
    downloadedBytes += fetched;
    o.log(
      `staged ${r.uri} at ${r.revision}: ${r.bytes} bytes, ${fetched} downloaded, ${r.bytes - fetched} from the cache`,
    );
  }

  const toLocal = (s: string) => {
    const path = local.get(s);
    return path === undefined ? s : `file://${path}`;
  };
  const spec = replaceStrings(o.spec, toLocal) as { output: { uri: string } };
  spec.output = { ...spec.output, uri: `file://${localOut}` };
  const localPrefix = `file://${localOut}`;
  return {
    spec,
    ticketRefs: replaceStrings(o.ticketRefs, toLocal),
    inputs: resolved.map((r) => ({ uri: r.uri, revision: r.revision, bytes: r.bytes })),
    downloadedBytes,
    toRemote: (value) =>
      output.scheme === 's3'
        ? replaceStrings(value, (s) =>
            s === localPrefix || s.startsWith(`${localPrefix}/`)
              ? joinArtifactUri(outputUri, s.slice(localPrefix.length + 1) || '.')
              : s,
          )
        : value,
    publish: async () => {
      if (output.scheme !== 's3') return;
      const rels = (await filesUnder(localOut)).sort();
      const fresh: string[] = [];
      for (const rel of rels) {
        const st = await stat(join(localOut, rel));
        const before = mirrored.get(rel);
        if (!before || before.size !== st.size || before.mtimeMs !== st.mtimeMs) fresh.push(rel);
      }
      const records = fresh.filter((r) => r.startsWith('phases/'));
      for (const rel of fresh.filter((r) => !r.startsWith('phases/'))) await upload(rel);
      for (const rel of records) await upload(rel);
      o.log(`published ${fresh.length} file(s) to ${outputUri}`);
    },
  };
}

/** Fills the cache with `objects`: one after the other, or several at once (download-pool.ts) for large inputs. */
async function fillS3(
  config: StorageConfig,
  s3: () => S3Client,
  bucket: string,
  objects: S3Object[],
  root: string,
  uri: string,
): Promise<number> {
  let fetched = 0;
  const here = (b: string, obj: S3Object, path: string, u: string) => downloadS3Object(s3(), b, obj, path, u);
  const lanes = poolSize(
    objects.length,
    objects.reduce((n, obj) => n + obj.size, 0),
  );
  if (lanes === 1) {
    for (const obj of objects) {
      if (await fill(join(root, obj.rel), obj.size, (tmp) => here(bucket, obj, tmp, uri))) fetched += obj.size;
    }
    return fetched;
  }
  const pool = downloadPool(config, lanes, here);
  // The first failure stops the others (closing the pool rejects them); it is the one reported.
  let first: { error: unknown } | undefined;
  try {
    await Promise.allSettled(
      objects.map(async (obj) => {
        try {
          if (await fill(join(root, obj.rel), obj.size, (tmp) => pool.download(bucket, obj, tmp, uri)))
            fetched += obj.size;
        } catch (error) {
          first ??= { error };
          await pool.close();
        }
      }),
    );
  } finally {
    await pool.close();
  }
  if (first) throw first.error;
  return fetched;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.partial`, text);
  await rename(`${path}.partial`, path);
}

async function readRecord(path: string): Promise<InputsRecord | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = JSON.parse(text) as InputsRecord;
  return parsed.version === 1 && Array.isArray(parsed.inputs) ? parsed : undefined;
}

/**
 * The inputs records of the adaptations whose tickets this phase reads (LoTTO exclusions, merge inputs): a ticket is
 * a delta on one base commit, so the same hf:// URI must resolve to the commit they used, even if its branch moved.
 */
async function ticketPins(o: StageOptions, s3: () => S3Client): Promise<Resolved[]> {
  const out: Resolved[] = [];
  for (const ticketUri of Object.values(o.ticketRefs)) {
    const parsed = parseArtifactUri(ticketUri);
    const recordUri = joinArtifactUri(
      formatArtifactUri({ ...parsed, path: dirname(parsed.path) } as typeof parsed),
      INPUTS_RECORD,
    );
    const record = await readRemoteOrLocal(recordUri, o, s3);
    if (record) out.push(...record.inputs);
  }
  return out;
}

async function readRemoteOrLocal(uri: string, o: StageOptions, s3: () => S3Client): Promise<InputsRecord | undefined> {
  const parsed = parseArtifactUri(uri);
  if (parsed.scheme === 'hf') return undefined;
  if (parsed.scheme !== 's3') return readRecord(resolveArtifactUri(parsed, { pvcRoot: o.pvcRoot }));
  const text = await withRetry(uri, 'GetObject', async () => {
    const r = await s3().send(new GetObjectCommand({ Bucket: parsed.bucket, Key: parsed.path.slice(1) }));
    return (r.Body as { transformToString(): Promise<string> }).transformToString();
  }).catch((error: StorageError) => {
    if (error.reason === 'NotFound') return undefined;
    throw error;
  });
  if (text === undefined) return undefined;
  const record = JSON.parse(text) as InputsRecord;
  return record.version === 1 ? record : undefined;
}
