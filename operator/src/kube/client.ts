// A thin JSON client over the Kubernetes REST API. KubeConfig (from @kubernetes/client-node) supplies the server,
// credentials and TLS; requests and watch streams go through undici with the dispatcher it configures. Objects stay
// the plain JSON the API server sends (no class instances, no Date conversion), which is what reconcilers compare.

import { type HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';

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
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  private readonly server: string;

  constructor(kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.kubeConfig = kubeConfig;
    this.server = cluster.server.replace(/\/$/, '');
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.text();
    if (res.status >= 400) throw toApiError(res.status, text, `${method} ${path}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
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
      const page = await this.get<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>(path, {
        ...query,
        limit: 500,
        continue: cont,
      });
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
    const ctx = new RequestContext(url.toString(), method as HttpMethod);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    return fetch(url, {
      method,
      headers,
      dispatcher: ctx.getDispatcher(),
      ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
      ...(opts.signal && { signal: opts.signal }),
    });
  }
}

function toApiError(status: number, text: string, what: string): ApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, s.reason ?? '', `${what}: ${s.message ?? text}`);
  } catch {
    return new ApiError(status, '', `${what}: HTTP ${status} ${text.slice(0, 200)}`);
  }
}
