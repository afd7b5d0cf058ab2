// A thin JSON client over the Kubernetes REST API. KubeConfig (from @kubernetes/client-node) supplies the server,
// credentials and TLS. Every request and watch of one client goes through ONE undici Agent: a keep-alive pool to the
// API server (HTTP/2 by default: watches and requests multiplex over one TLS connection, as client-go does), so no
// request pays for a new connection and handshake. Requests take a token from a client-side rate limiter first
// (`--kube-api-qps`/`--kube-api-burst`), and every request but a watch has a timeout (`--kube-api-timeout`).
// Objects stay the plain JSON the API server sends (no class instances, no Date conversion), which is what
// reconcilers compare.

import type { HttpMethod, KubeConfig } from '@kubernetes/client-node';
import { Agent, type Dispatcher, fetch } from 'undici';
import type { Credentials } from './credentials.ts';
import { TokenBucket } from './ratelimit.ts';

/** Either the operator's own light credentials (credentials.ts) or a client-node KubeConfig (tests, exec plugins). */
export type KubeSource = Credentials | KubeConfig;

const isCredentials = (s: KubeSource): s is Credentials => typeof (s as Credentials).headers === 'function';

/** client-node's RequestContext, loaded only for KubeConfig sources (the package is large). */
async function requestContext(url: string) {
  const { RequestContext } = await import('@kubernetes/client-node');
  return new RequestContext(url, 'GET' as HttpMethod);
}

/** An error response of the API server, with its HTTP status and `Status.reason` (NotFound, Conflict, Gone…). */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }
}

export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof ApiError && e.status === 409;
export const isAlreadyExists = (e: unknown) =>
  e instanceof ApiError && e.status === 409 && e.reason === 'AlreadyExists';
export const isGone = (e: unknown) => e instanceof ApiError && e.status === 410;

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Overrides the client's per-request timeout (milliseconds; 0 = none). */
  timeoutMs?: number;
}

export interface KubeClientOptions {
  /** Sustained requests per second (client-go's QPS); 0 = unlimited. */
  qps?: number;
  /** Requests allowed at once after a quiet period (client-go's burst). */
  burst?: number;
  /**
   * Milliseconds a request (not a watch) may take, answer body included, before it fails. Must stay well below the
   * leader election's renew deadline (10 s) so that a hung renewal fails in time for a retry.
   */
  timeoutMs?: number;
  /** Negotiate HTTP/2 (one multiplexed connection); false = a pool of keep-alive HTTP/1.1 connections. */
  http2?: boolean;
  /** HTTP/1.1 connections at most (ignored with HTTP/2, which needs one). */
  connections?: number;
  /** Called for each request sent: its verb (LIST and WATCH told apart), resource (`jobs`, `pods/status`), status. */
  onRequest?: (verb: string, resource: string, code: string) => void;
}

/** The resource (and subresource) a REST path names: `/apis/batch/v1/namespaces/x/jobs/y/status` → `jobs/status`. */
export function resourceOf(path: string): { resource: string; named: boolean } {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  const rest = parts.slice(parts[0] === 'api' ? 2 : 3);
  const tail = rest[0] === 'namespaces' && rest.length > 2 ? rest.slice(2) : rest;
  const [resource = '', name, sub] = tail;
  return { resource: sub ? `${resource}/${sub}` : resource, named: name !== undefined };
}

/** The defaults; docs/operations.md ("Sizing") explains how they were chosen. */
export const CLIENT_DEFAULTS = { qps: 200, burst: 400, timeoutMs: 5_000, http2: true, connections: 16 } as const;

/** How long a computed Authorization header is reused (tokens read from files rotate on the scale of minutes). */
const AUTH_TTL_MS = 10_000;
/** Lists read big pages; they get this much at least. */
const LIST_PAGE_TIMEOUT_MS = 30_000;

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export class KubeClient {
  readonly source: KubeSource;
  readonly options: Required<Omit<KubeClientOptions, 'onRequest'>> & Pick<KubeClientOptions, 'onRequest'>;
  private readonly server: string;
  private readonly limiter: TokenBucket;
  private pool?: Promise<Dispatcher | undefined>;
  private auth?: { headers: Record<string, string>; at: number };
  /** Requests sent, for tests and the bench. */
  readonly stats = { requests: 0, throttledMs: 0 };

  constructor(source: KubeSource, opts: KubeClientOptions = {}) {
    this.source = source;
    if (isCredentials(source)) {
      this.server = source.server.replace(/\/$/, '');
    } else {
      const cluster = source.getCurrentCluster();
      if (!cluster) throw new Error('kubeconfig has no current cluster');
      this.server = cluster.server.replace(/\/$/, '');
    }
    this.options = { ...CLIENT_DEFAULTS, ...opts };
    this.limiter = new TokenBucket({ qps: this.options.qps, burst: this.options.burst });
  }

  /** A client with the same pool settings and no rate limit (leader election must never queue behind reconciles). */
  unlimited(): KubeClient {
    return new KubeClient(this.source, { ...this.options, qps: 0 });
  }

  /** Closes the connections of the pool. */
  async close(): Promise<void> {
    const pool = await this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs;
    const signal = withTimeout(opts.signal, timeoutMs);
    try {
      const res = await this.send(method, path, { ...opts, signal });
      const text = await res.text();
      if (res.status >= 400) throw toApiError(res.status, text, `${method} ${path}`);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (error) {
      if (signal?.aborted && !opts.signal?.aborted && error instanceof Error && error.name !== 'ApiError')
        throw new Error(`${method} ${path}: no answer within ${timeoutMs} ms (kube-api timeout)`, { cause: error });
      throw error;
    }
  }

  get<T>(path: string, query?: Query, timeoutMs?: number): Promise<T> {
    return this.request<T>('GET', path, { query, ...(timeoutMs !== undefined && { timeoutMs }) });
  }

  create<T>(path: string, body: T): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  replace<T>(path: string, body: T): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  /** JSON merge patch (RFC 7386). */
  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json' });
  }

  delete(path: string, propagationPolicy: 'Foreground' | 'Background' | 'Orphan' = 'Background'): Promise<unknown> {
    return this.request('DELETE', path, { body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy } });
  }

  /** Lists every page of a collection; returns the items and the list's resourceVersion to watch from. */
  async list<T>(path: string, query: Query = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.get<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>(
        path,
        {
          ...query,
          limit: 500,
          continue: cont,
        },
        Math.max(this.options.timeoutMs, LIST_PAGE_TIMEOUT_MS),
      );
      items.push(...page.items);
      resourceVersion = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  /**
   * Streams a watch: calls `onLine` with each decoded watch event until the server closes the stream (resolves) or
   * the request fails or is aborted (rejects). A non-200 answer rejects with its ApiError (410 = too old).
   */
  async watch(path: string, query: Query, onEvent: (event: unknown) => void, signal: AbortSignal): Promise<void> {
    const res = await this.send('GET', path, { query: { ...query, watch: true }, signal });
    if (res.status !== 200) throw toApiError(res.status, await res.text(), `watch ${path}`);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line !== '') onEvent(JSON.parse(line));
        nl = buffered.indexOf('\n');
      }
    }
  }

  private async send(method: string, path: string, opts: RequestOptions) {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    if (!this.limiter.tryTake()) {
      const start = performance.now();
      await this.limiter.take();
      this.stats.throttledMs += performance.now() - start;
    }
    opts.signal?.throwIfAborted();
    this.stats.requests++;
    this.pool ??= this.makePool(url.toString());
    const dispatcher = await this.pool;
    const headers: Record<string, string> = { ...(await this.authHeaders(url.toString())), accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const report = this.options.onRequest;
    const { resource, named } = report ? resourceOf(path) : { resource: '', named: false };
    const verb = opts.query?.watch ? 'WATCH' : method === 'GET' && !named ? 'LIST' : method;
    try {
      const res = await fetch(url, {
        method,
        headers,
        ...(dispatcher && { dispatcher }),
        ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
        ...(opts.signal && { signal: opts.signal }),
      });
      report?.(verb, resource, String(res.status));
      return res;
    } catch (error) {
      report?.(verb, resource, '<error>');
      throw error;
    }
  }

  /**
   * The pool: an undici Agent with the kubeconfig's TLS settings, made once. Behind a proxy the dispatcher that
   * client-node builds for the kubeconfig is kept instead (made once too: it pools as well).
   */
  private async makePool(url: string): Promise<Dispatcher | undefined> {
    const tls: Record<string, unknown> = {};
    if (isCredentials(this.source)) {
      Object.assign(tls, this.source.tls);
    } else {
      const ctx = await requestContext(url);
      await this.source.applySecurityAuthentication(ctx);
      if (this.source.getCurrentCluster()?.proxyUrl) return ctx.getDispatcher();
      await this.source.applyToHTTPSOptions(tls as never);
    }
    const connect: Record<string, unknown> = { keepAlive: true, keepAliveInitialDelay: 30_000 };
    for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'])
      if (tls[k] !== undefined && tls[k] !== null) connect[k] = tls[k];
    return new Agent({
      connect,
      allowH2: this.options.http2,
      connections: this.options.http2 ? 1 : this.options.connections,
      // HTTP/2 lets many requests and watches share the connection; the API server allows 100 streams at once
      // by default (--http2-max-streams-per-connection is 1000 in current releases).
      ...(this.options.http2 && { maxConcurrentStreams: 1000 }),
      keepAliveTimeout: 60_000,
    });
  }

  /** Authorization headers from the kubeconfig (bearer token, exec plugin, basic auth), reused for a few seconds. */
  private async authHeaders(url: string): Promise<Record<string, string>> {
    if (isCredentials(this.source)) return this.source.headers();
    const now = performance.now();
    if (this.auth && now - this.auth.at < AUTH_TTL_MS) return this.auth.headers;
    const ctx = await requestContext(url);
    await this.source.applySecurityAuthentication(ctx);
    // The dispatcher made along with the headers is not used (the pool is); close it so it holds nothing.
    void (ctx.getDispatcher() as Dispatcher | undefined)?.close?.();
    this.auth = { headers: ctx.getHeaders(), at: now };
    return this.auth.headers;
  }
}

function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal | undefined {
  if (!(timeoutMs > 0)) return signal;
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

function toApiError(status: number, text: string, what: string): ApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, s.reason ?? '', `${what}: ${s.message ?? text}`);
  } catch {
    return new ApiError(status, '', `${what}: HTTP ${status} ${text.slice(0, 200)}`);
  }
}
