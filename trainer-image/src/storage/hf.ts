// hf:// with @huggingface/hub: the revision is resolved to its commit sha (modelInfo/datasetInfo), the file list read
// at that commit (listFiles, recursive), and each file downloaded from the commit (downloadFile → resolve/<sha>/<path>)
// and checked against what the Hub reports: size and sha256 for LFS files, size and git blob id for the others.
import { datasetInfo, downloadFile, type ListFileEntry, listFiles, modelInfo } from '@huggingface/hub';
import { formatArtifactUri, type HfUri } from '@lota/api/uri';
import type { StorageConfig } from './config.ts';
import { StorageError } from './errors.ts';
import { writeHashed } from './hashing.ts';
import { withRetry } from './retry.ts';

export interface HfFile {
  /** Path inside the repository. */
  path: string;
  size: number;
  /** sha256 of an LFS file. */
  sha256?: string;
  /** git blob id of a file kept in git. */
  gitOid?: string;
}

export interface HfListing {
  sha: string;
  single: boolean;
  files: HfFile[];
}

const repoOf = (u: HfUri) => ({ type: u.repoType, name: u.repo }) as const;

function access(config: StorageConfig) {
  return { hubUrl: config.hubEndpoint, ...(config.hubToken ? { accessToken: config.hubToken } : {}) };
}

/** The commit `u`'s revision names now, and the files of `u.path` (one file or a folder) at that commit. */
export async function listHf(config: StorageConfig, u: HfUri, pinnedSha?: string): Promise<HfListing> {
  const uri = formatArtifactUri(u);
  const sha =
    pinnedSha ??
    (await withRetry(uri, 'resolving the revision', async () => {
      const base = { name: u.repo, revision: u.revision ?? 'main', ...access(config) };
      const info =
        u.repoType === 'model'
          ? await modelInfo({ ...base, additionalFields: ['sha'] })
          : await datasetInfo({ ...base, additionalFields: ['sha'] });
      return info.sha;
    }));
  if (!sha || !/^[0-9a-f]{40}$/.test(sha)) {
    throw new StorageError(uri, 'NotFound', `the Hub did not report a commit sha for revision ${u.revision ?? 'main'}`);
  }
  const entries = await withRetry(uri, 'listing files', async () => {
    const out: ListFileEntry[] = [];
    for await (const e of listFiles({ repo: repoOf(u), revision: sha, recursive: true, ...access(config) }))
      out.push(e);
    return out;
  });
  const want = u.path.slice(1);
  const files: HfFile[] = [];
  let single = false;
  for (const e of entries) {
    if (e.type !== 'file') continue;
    const exact = e.path === want;
    if (!(want === '' || exact || e.path.startsWith(`${want}/`))) continue;
    single ||= exact;
    files.push({
      path: e.path,
      size: e.lfs?.size ?? e.size,
      ...(e.lfs ? { sha256: e.lfs.oid } : { gitOid: e.oid }),
    });
  }
  if (files.length === 0) {
    throw new StorageError(
      uri,
      'NotFound',
      `no file ${want === '' ? 'in the repository' : `or folder ${want}`} at commit ${sha} (HTTP 404)`,
      404,
    );
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { sha, single, files: single ? files.filter((f) => f.path === want) : files };
}

/** Downloads one file of commit `sha` into `path` and verifies it. */
export async function downloadHfFile(config: StorageConfig, u: HfUri, sha: string, file: HfFile, path: string) {
  const uri = formatArtifactUri(u);
  const written = await withRetry(uri, `downloading ${file.path}`, async () => {
    const blob = await downloadFile({ repo: repoOf(u), path: file.path, revision: sha, ...access(config) });
    if (!blob) throw new StorageError(uri, 'NotFound', `${file.path} is not in commit ${sha} (HTTP 404)`, 404);
    return writeHashed(blob.stream(), path, file.size, { gitOid: file.gitOid !== undefined });
  });
  if (written.bytes !== file.size) {
    throw new StorageError(
      uri,
      'InputChanged',
      `${file.path}: got ${written.bytes} bytes, the Hub reports ${file.size}`,
    );
  }
  if (file.sha256 && written.sha256 !== file.sha256) {
    throw new StorageError(
      uri,
      'InputChanged',
      `${file.path}: sha256 ${written.sha256}, the Hub reports ${file.sha256}`,
    );
  }
  if (file.gitOid && written.gitOid !== file.gitOid) {
    throw new StorageError(
      uri,
      'InputChanged',
      `${file.path}: git blob ${written.gitOid}, the Hub reports ${file.gitOid}`,
    );
  }
}
