// Where the API server is and how to authenticate to it, read from the in-cluster service account or a kubeconfig
// file. Written here instead of taking @kubernetes/client-node's KubeConfig for the common cases because importing
// that package loads its whole generated API (≈ 80 MB of resident memory measured on Node 24 — half of the operator's
// memory budget at 1,000 resources). What this loader does not cover — exec credential plugins, auth providers,
// proxies — falls back to client-node (loaded only then), so no kubeconfig loses support.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/** TLS options of the connection to the API server (undici `connect` options). */
export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface Credentials {
  /** https://host:port, no trailing slash. */
  server: string;
  tls: TlsOptions;
  /** Authorization headers for the next request (a token file is re-read when it changes, as tokens rotate). */
  headers(): Record<string, string>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster service account, as client-go's rest.InClusterConfig reads it. */
export function inClusterCredentials(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('not in a cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set');
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { server, tls: { ca: readFileSync(join(dir, 'ca.crt')) }, headers: bearerFromFile(join(dir, 'token')) };
}

/** A bearer token read from a file, re-read at most every 10 s (projected tokens rotate). */
function bearerFromFile(file: string): () => Record<string, string> {
  let cached: { token: string; at: number } | undefined;
  return () => {
    const now = performance.now();
    if (!cached || now - cached.at > 10_000) cached = { token: readFileSync(file, 'utf8').trim(), at: now };
    return { authorization: `Bearer ${cached.token}` };
  };
}

/** Thrown for kubeconfigs this loader does not handle; the caller then uses client-node's KubeConfig. */
export class UnsupportedKubeconfig extends Error {}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  value?: T;
}

/**
 * The current context of a kubeconfig file: server, TLS files or data, and a token, token file, client certificate
 * or basic auth. Relative paths are relative to the file, as kubectl reads them.
 */
export function kubeconfigCredentials(path: string): Credentials {
  const doc = parse(readFileSync(path, 'utf8')) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') throw new Error(`${path}: not a kubeconfig (no YAML mapping)`);
  const pick = <T>(list: string, name: string | undefined, field: string): T => {
    const entries = (doc[list] as Named<T>[] | undefined) ?? [];
    const entry = entries.find((e) => e?.name === name);
    if (!entry) throw new Error(`${path}: ${list} has no entry named ${JSON.stringify(name)}`);
    return (entry[field] ?? {}) as T;
  };
  const contextName = doc['current-context'] as string | undefined;
  if (!contextName) throw new Error(`${path}: no current-context`);
  const context = pick<{ cluster?: string; user?: string }>('contexts', contextName, 'context');
  const cluster = pick<Record<string, string | boolean | undefined>>('clusters', context.cluster, 'cluster');
  const user = context.user
    ? pick<Record<string, unknown>>('users', context.user, 'user')
    : ({} as Record<string, unknown>);
  if (user.exec || user['auth-provider'] || cluster['proxy-url'])
    throw new UnsupportedKubeconfig(`${path}: exec plugins, auth providers and proxies are read by client-node`);
  const base = dirname(path);
  const file = (p: unknown) => readFileSync(isAbsolute(String(p)) ? String(p) : join(base, String(p)));
  const data = (inline: unknown, onDisk: unknown) =>
    inline ? Buffer.from(String(inline), 'base64') : onDisk ? file(onDisk) : undefined;
  const server = String(cluster.server ?? '').replace(/\/$/, '');
  if (!server) throw new Error(`${path}: cluster ${context.cluster} has no server`);
  const tls: TlsOptions = {};
  const ca = data(cluster['certificate-authority-data'], cluster['certificate-authority']);
  if (ca) tls.ca = ca;
  const cert = data(user['client-certificate-data'], user['client-certificate']);
  const key = data(user['client-key-data'], user['client-key']);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (cluster['insecure-skip-tls-verify'] === true) tls.rejectUnauthorized = false;
  if (cluster['tls-server-name']) tls.servername = String(cluster['tls-server-name']);
  let headers: () => Record<string, string> = () => ({});
  if (typeof user.token === 'string') {
    const h = { authorization: `Bearer ${user.token}` };
    headers = () => h;
  } else if (typeof user.tokenFile === 'string') {
    headers = bearerFromFile(isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile));
  } else if (typeof user.username === 'string') {
    const h = { authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}` };
    headers = () => h;
  }
  return { server, tls, headers };
}

/** kubectl's order: an explicit path, else in-cluster, else $KUBECONFIG (first file), else ~/.kube/config. */
export function loadCredentials(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Credentials {
  if (path) return kubeconfigCredentials(path);
  if (env.KUBERNETES_SERVICE_HOST) return inClusterCredentials(env);
  const fromEnv = env.KUBECONFIG?.split(':').find((p) => p !== '');
  return kubeconfigCredentials(fromEnv ?? join(homedir(), '.kube', 'config'));
}
