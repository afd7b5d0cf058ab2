// Failures of remote storage (hf://, s3://), classified once so that the trainer's exit code and the resource's
// reason say what the user must fix: a wrong URI or revision (NotFound), credentials (AccessDenied), an endpoint that
// does not answer (EndpointUnreachable), an input that changed under a run (InputChanged) — all permanent — or a
// store that keeps failing transiently (TransientIOError, retryable). Messages name the URI and the HTTP status and
// never carry credentials: the server's own text is scrubbed of every secret the process holds.
import { STORAGE_SECRET_KEYS, type TrainerReason } from '@lota/api/trainer-contract';

export type StorageReason = Extract<
  TrainerReason,
  'NotFound' | 'AccessDenied' | 'EndpointUnreachable' | 'InputChanged' | 'TransientIOError'
>;

export class StorageError extends Error {
  readonly uri: string;
  readonly reason: StorageReason;
  readonly status: number | undefined;
  constructor(uri: string, reason: StorageReason, message: string, status?: number) {
    super(scrub(`${uri}: ${message}`));
    this.name = 'StorageError';
    this.uri = uri;
    this.reason = reason;
    this.status = status;
  }
  get permanent(): boolean {
    return this.reason !== 'TransientIOError';
  }
}

/** Replaces the value of every credential variable in `text` (defence in depth: servers may echo request data). */
export function scrub(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const key of STORAGE_SECRET_KEYS) {
    const value = env[key];
    if (value && value.length >= 4) out = out.split(value).join('***');
  }
  return out;
}

const CREDENTIAL_CODE = /AccessDenied|AccessKey|Signature|Credential|UserNotFound|Forbidden|ExpiredToken|InvalidToken/;
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'FETCH_FAILED',
]);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET', 'EPROTO']);

interface Described {
  status: number | undefined;
  code: string | undefined;
  text: string;
}

/** HTTP status, error code and message of an AWS SDK, @huggingface/hub or fetch/Node network error. */
export function describe(error: unknown): Described {
  const e = error as {
    $metadata?: { httpStatusCode?: number };
    statusCode?: number;
    name?: string;
    code?: string;
    Code?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  } | null;
  const status = e?.$metadata?.httpStatusCode ?? e?.statusCode;
  // fetch() reports network failures as TypeError('fetch failed') with the socket error as cause.
  const fetchFailed = e?.message === 'fetch failed' ? 'FETCH_FAILED' : undefined;
  const code = e?.cause?.code ?? e?.code ?? e?.Code ?? (e?.$metadata ? e?.name : undefined) ?? fetchFailed;
  const text = [e?.message, e?.cause?.message].filter((x) => x && x !== 'fetch failed').join(': ') || String(error);
  return { status, code, text };
}

/** Worth another try inside the pod: 5xx, 429, a reset connection, a refused connection (the endpoint may restart). */
export function isTransient(error: unknown): boolean {
  if (error instanceof StorageError) return !error.permanent;
  const { status, code } = describe(error);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  return code !== undefined && (RESET_CODES.has(code) || CONNECT_CODES.has(code));
}

/** The StorageError for a failure of `what` on `uri` (after retries, if it was transient). */
export function toStorageError(uri: string, what: string, error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const { status, code, text } = describe(error);
  const detail = `${what} failed: ${status !== undefined ? `HTTP ${status}` : (code ?? 'error')}${code && status !== undefined ? ` ${code}` : ''} (${text})`;
  // Credentials first: some stores answer an unknown access key with 404 (versitygw: XAdminUserNotFound).
  if (status === 401 || status === 403 || (code !== undefined && CREDENTIAL_CODE.test(code))) {
    return new StorageError(
      uri,
      'AccessDenied',
      `${detail}; check the credentials (spec.storage.secretRef) and that they may read it${status === 401 || status === 403 ? ' (a gated Hub repository needs an accepted licence)' : ''}`,
      status,
    );
  }
  if (status === 404 || code === 'NoSuchBucket' || code === 'NoSuchKey' || code === 'NotFound') {
    return new StorageError(uri, 'NotFound', detail, status);
  }
  if (status === 412)
    return new StorageError(uri, 'InputChanged', `${detail}; it changed since the first phase`, status);
  if (code !== undefined && CONNECT_CODES.has(code)) {
    return new StorageError(uri, 'EndpointUnreachable', `${detail}; check the endpoint (spec.storage)`, status);
  }
  if (isTransient(error)) return new StorageError(uri, 'TransientIOError', detail, status);
  if (status !== undefined && status >= 400 && status < 500) return new StorageError(uri, 'NotFound', detail, status);
  return new StorageError(uri, 'TransientIOError', detail, status);
}
