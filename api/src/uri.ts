// Artifact URIs: where models, datasets, masks and tickets live.
//   pvc://<claim>/<path>   a path inside a PersistentVolumeClaim of the resource's namespace; the operator mounts the
//                          claim at <pvcRoot>/<claim> (see docs/trainer-contract.md)
//   file:///<abs-path>     a path on the machine that runs the trainer (clusterless `lota run`, tests)
//   hf://[datasets/]<org>/<name>[@<revision>][/<path>]
//                          a Hugging Face Hub repository (model, or dataset with `datasets/`), at a branch, tag or
//                          commit (default main), optionally one file or folder of it; read-only
//   s3://<bucket>/<key-or-prefix>
//                          an object, or every object under a prefix (a directory), in an S3-compatible store
// Each scheme is one entry of SCHEMES. hf:// and s3:// are remote: the trainer stages them into a local cache before a
// phase reads them and uploads outputs after it (trainer-image/src/storage/), so `resolveArtifactUri` refuses them.
// URIs are not percent-decoded: `%`, `?`, `#`, backslashes, whitespace and control characters are refused so
// that a URI names exactly one path, and `..` segments are refused so that no URI escapes its root.
import { isAbsolute, join, relative, resolve } from 'node:path';
import { TRAINER_DEFAULTS } from './trainer-contract.ts';

export interface PvcUri {
  scheme: 'pvc';
  claim: string;
  /** Normalised path inside the claim, starting with `/` (`/` for the claim's root). */
  path: string;
}

export interface FileUri {
  scheme: 'file';
  /** Normalised absolute path. */
  path: string;
}

export interface HfUri {
  scheme: 'hf';
  /** What the repository holds: `model` (hf://org/name) or `dataset` (hf://datasets/org/name). */
  repoType: 'model' | 'dataset';
  /** `<org>/<name>`. */
  repo: string;
  /** Branch, tag or commit; undefined = the repository's default branch (main). */
  revision?: string;
  /** Normalised path inside the repository, starting with `/` (`/` for the whole repository). */
  path: string;
}

export interface S3Uri {
  scheme: 's3';
  bucket: string;
  /** Normalised key or prefix, starting with `/` (`/` for the whole bucket); the object key is `path.slice(1)`. */
  path: string;
}

export type ParsedArtifactUri = PvcUri | FileUri | HfUri | S3Uri;
export type ArtifactScheme = ParsedArtifactUri['scheme'];

export interface ResolveOptions {
  /** Where pvc:// claims are mounted (LOTA_PVC_ROOT); default /mnt/pvc. */
  pvcRoot?: string;
}

export class ArtifactUriError extends Error {
  readonly uri: string;
  constructor(uri: string, reason: string) {
    super(`invalid artifact URI ${JSON.stringify(uri)}: ${reason}`);
    this.name = 'ArtifactUriError';
    this.uri = uri;
  }
}

export const MAX_URI_LENGTH = 1024;

/** Characters a path part may hold (shared by the parser and the CRD's pattern). */
const FORBIDDEN_CHARS = String.raw`?#%\\\s\x00-\x1f\x7f`;
const PATH_CHARS = `[^${FORBIDDEN_CHARS}]`;
const FORBIDDEN = new RegExp(`[${FORBIDDEN_CHARS}]`);
const CLAIM = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
/** A Hub user/organisation or repository name (the Hub's own rule: letters, digits, `-`, `_`, `.`; ≤ 96). */
const HF_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,94}[A-Za-z0-9])?';
/** A revision: branch, tag or commit sha. Names with `/` (refs/pr/1) cannot be told from a path and are refused. */
const HF_REVISION = '[A-Za-z0-9][-A-Za-z0-9_.]{0,127}';
/** An S3 bucket name (lower case, digits, `.`, `-`; 3–63). */
const BUCKET = '[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]';

interface SchemeHandler<U extends ParsedArtifactUri> {
  /** Regular expression (RE2- and ECMAScript-compatible) for the whole URI, used in the CRD too. */
  pattern: string;
  parse(uri: string, rest: string): U;
  format(parsed: U): string;
  resolve(parsed: U, options: Required<ResolveOptions>): string;
}

const pvc: SchemeHandler<PvcUri> = {
  pattern: `pvc://${CLAIM}(/${PATH_CHARS}*)?`,
  parse(uri, rest) {
    const slash = rest.indexOf('/');
    const claim = slash < 0 ? rest : rest.slice(0, slash);
    if (claim.length === 0) throw new ArtifactUriError(uri, 'pvc:// needs a claim name: pvc://<claim>/<path>');
    if (claim.length > 253 || !new RegExp(`^${CLAIM}$`).test(claim)) {
      throw new ArtifactUriError(uri, `claim ${JSON.stringify(claim)} is not a valid PersistentVolumeClaim name`);
    }
    return { scheme: 'pvc', claim, path: normalisePath(uri, slash < 0 ? '/' : rest.slice(slash)) };
  },
  format: (u) => `pvc://${u.claim}${u.path === '/' ? '' : u.path}`,
  resolve(u, { pvcRoot }) {
    const claimRoot = join(pvcRoot, u.claim);
    const resolved = u.path === '/' ? claimRoot : join(claimRoot, u.path);
    const inside = relative(claimRoot, resolved);
    if (inside.startsWith('..') || isAbsolute(inside)) {
      throw new ArtifactUriError(pvc.format(u), `resolves outside its claim (${resolved})`);
    }
    return resolved;
  },
};

const file: SchemeHandler<FileUri> = {
  pattern: `file://(localhost)?/${PATH_CHARS}*`,
  parse(uri, rest) {
    const authority = rest.slice(0, Math.max(0, rest.indexOf('/')));
    if (!rest.includes('/') || (authority !== '' && authority !== 'localhost')) {
      throw new ArtifactUriError(uri, 'file:// URIs must name an absolute local path: file:///<path>');
    }
    return { scheme: 'file', path: normalisePath(uri, rest.slice(authority.length)) };
  },
  format: (u) => `file://${u.path}`,
  resolve: (u) => u.path,
};

const remote = (u: ParsedArtifactUri): never => {
  throw new ArtifactUriError(
    formatArtifactUri(u),
    `${u.scheme}:// is remote; the trainer stages it into a local directory before reading it`,
  );
};

const hf: SchemeHandler<HfUri> = {
  pattern: `hf://(datasets/)?${HF_NAME}/${HF_NAME}(@${HF_REVISION})?(/${PATH_CHARS}*)?`,
  parse(uri, rest) {
    const m = rest.match(new RegExp(`^(datasets/)?(${HF_NAME})/(${HF_NAME})(@(${HF_REVISION}))?(/.*)?$`));
    if (!m) {
      throw new ArtifactUriError(
        uri,
        'expected hf://<org>/<name>[@<revision>][/<path>] or hf://datasets/<org>/<name>[@<revision>][/<path>] ' +
          '(names: letters, digits, - _ .; a revision without /)',
      );
    }
    const [, datasets, org = '', , name = '', , , revision, path] = m;
    if (name.includes('..') || org.includes('..')) throw new ArtifactUriError(uri, "'..' is not allowed in names");
    return {
      scheme: 'hf',
      repoType: datasets ? 'dataset' : 'model',
      repo: `${org}/${name}`,
      ...(revision !== undefined && { revision }),
      path: normalisePath(uri, path ?? '/'),
    };
  },
  format: (u) =>
    `hf://${u.repoType === 'dataset' ? 'datasets/' : ''}${u.repo}${u.revision ? `@${u.revision}` : ''}${u.path === '/' ? '' : u.path}`,
  resolve: remote,
};

const s3: SchemeHandler<S3Uri> = {
  pattern: `s3://${BUCKET}(/${PATH_CHARS}*)?`,
  parse(uri, rest) {
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    if (!new RegExp(`^${BUCKET}$`).test(bucket) || bucket.includes('..')) {
      throw new ArtifactUriError(uri, `bucket ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
    }
    return { scheme: 's3', bucket, path: normalisePath(uri, slash < 0 ? '/' : rest.slice(slash)) };
  },
  format: (u) => `s3://${u.bucket}${u.path === '/' ? '' : u.path}`,
  resolve: remote,
};

const SCHEMES: { [S in ArtifactScheme]: SchemeHandler<Extract<ParsedArtifactUri, { scheme: S }>> } = {
  pvc,
  file,
  hf,
  s3,
};

/** Schemes the trainer stages (downloads) and publishes (uploads) instead of reading in place. */
export const REMOTE_SCHEMES: readonly ArtifactScheme[] = ['hf', 's3'];
/** Schemes outputs may be written to (the Hub is read-only here). */
export const WRITABLE_SCHEMES: readonly ArtifactScheme[] = ['pvc', 'file', 's3'];

export function isRemoteUri(uri: string | ParsedArtifactUri): boolean {
  const parsed = typeof uri === 'string' ? parseArtifactUri(uri) : uri;
  return REMOTE_SCHEMES.includes(parsed.scheme);
}

export const ARTIFACT_SCHEMES = Object.keys(SCHEMES) as ArtifactScheme[];

/** The CRD pattern for artifact URIs: any registered scheme. */
export const ARTIFACT_URI_PATTERN = `^(${Object.values(SCHEMES)
  .map((s) => s.pattern)
  .join('|')})$`;

function normalisePath(uri: string, path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '..') throw new ArtifactUriError(uri, "'..' path segments are not allowed");
    if (segment !== '' && segment !== '.') segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

export function parseArtifactUri(uri: string): ParsedArtifactUri {
  if (typeof uri !== 'string' || uri.length === 0) throw new ArtifactUriError(String(uri), 'empty');
  if (uri.length > MAX_URI_LENGTH) throw new ArtifactUriError(uri.slice(0, 64), `longer than ${MAX_URI_LENGTH}`);
  const bad = uri.match(FORBIDDEN);
  if (bad) throw new ArtifactUriError(uri, `character ${JSON.stringify(bad[0])} is not allowed (URIs are not decoded)`);
  const m = uri.match(/^([a-z][a-z0-9+.-]*):\/\/(.*)$/);
  if (!m) throw new ArtifactUriError(uri, `expected <scheme>://…, one of ${ARTIFACT_SCHEMES.join(', ')}`);
  const [, scheme = '', rest = ''] = m;
  if (!isArtifactScheme(scheme)) {
    throw new ArtifactUriError(
      uri,
      `unknown scheme ${JSON.stringify(scheme)}; supported: ${ARTIFACT_SCHEMES.join(', ')}`,
    );
  }
  return SCHEMES[scheme].parse(uri, rest);
}

function isArtifactScheme(s: string): s is ArtifactScheme {
  return Object.hasOwn(SCHEMES, s);
}

export function formatArtifactUri(parsed: ParsedArtifactUri): string {
  return handlerOf(parsed).format(parsed);
}

function handlerOf(parsed: ParsedArtifactUri): SchemeHandler<ParsedArtifactUri> {
  return SCHEMES[parsed.scheme] as unknown as SchemeHandler<ParsedArtifactUri>;
}

/** The local filesystem path of an artifact URI, as the trainer sees it. */
export function resolveArtifactUri(uri: string | ParsedArtifactUri, options: ResolveOptions = {}): string {
  const parsed = typeof uri === 'string' ? parseArtifactUri(uri) : uri;
  const opts = { pvcRoot: options.pvcRoot ?? TRAINER_DEFAULTS.pvcRoot };
  return handlerOf(parsed).resolve(parsed, opts);
}

/** `base` + relative `path` (e.g. an artifact under `output.uri`); `path` may not climb out with `..`. */
export function joinArtifactUri(base: string, path: string): string {
  const parsed = parseArtifactUri(base);
  const joined = normalisePath(`${base} + ${path}`, `${parsed.path}/${path}`);
  return formatArtifactUri({ ...parsed, path: joined });
}

/** The PersistentVolumeClaims a set of URIs needs mounted (the operator mounts each once). */
export function claimsOf(uris: Iterable<string>): string[] {
  const claims = new Set<string>();
  for (const uri of uris) {
    const parsed = parseArtifactUri(uri);
    if (parsed.scheme === 'pvc') claims.add(parsed.claim);
  }
  return [...claims].sort();
}

/**
 * The `lota run` convenience for manifests kept next to their data: every string `file:<relative path>` (no `//`)
 * in `value` becomes `file://<baseDir>/<relative path>`, so examples work from any checkout. The API server never
 * sees such a URI (the CRD pattern refuses it); this runs before admission, on a local manifest only.
 */
export function resolveRelativeFileUris<T>(value: T, baseDir: string): T {
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const m = v.match(/^file:(?!\/\/)(.+)$/);
      return m?.[1] ? `file://${resolve(baseDir, m[1])}` : v;
    }
    if (Array.isArray(v)) return v.map(visit);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visit(x)]));
    return v;
  };
  return visit(value) as T;
}
