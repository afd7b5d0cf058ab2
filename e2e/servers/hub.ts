// A minimal Hugging Face Hub endpoint for tests — NOT a real Hub: it implements only the documented HTTP surface
// that huggingface_hub and @huggingface/hub use to read repositories (docs/testing.md):
//   GET /api/{models|datasets}/<org>/<name>[/revision/<rev>]        repository info with the commit `sha`
//   GET /api/{models|datasets}/<org>/<name>/tree/<rev>[/<path>]     file list (size, git oid, lfs sha256), paginated
//                                                                    with a Link: <…>; rel="next" header
//   GET|HEAD /[datasets/]<org>/<name>/resolve/<rev>/<path>          the file: X-Repo-Commit, ETag (git oid, or the
//                                                                    LFS sha256 as X-Linked-Etag after a 302 to /lfs/)
//   errors: 401 (no/invalid token on a gated repo), 403 (a token without access), 404 with X-Error-Code
//   RepoNotFound / RevisionNotFound / EntryNotFound; Range requests (206).
// Repositories are published from local directories as commits; branches are moved with `setBranch`. The server
// counts the bytes it serves per repository, which is what "downloaded once" is measured with.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

interface HubFile {
  path: string;
  size: number;
  /** git blob id. */
  oid: string;
  sha256: string;
  lfs: boolean;
  source: string;
}

interface Repo {
  commits: Map<string, HubFile[]>;
  refs: Map<string, string>;
  gated: boolean;
}

export interface HubServer {
  url: string;
  /** Publishes `dir` as a new commit on `branch` (created or moved); returns the commit sha. */
  publish(repo: string, dir: string, options?: { type?: 'model' | 'dataset'; branch?: string }): Promise<string>;
  /** Points `branch` (or a tag) at `sha`. */
  setBranch(repo: string, branch: string, sha: string, type?: 'model' | 'dataset'): void;
  /** Requires a token for `repo`: none or a wrong one → 401/403. */
  gate(repo: string, type?: 'model' | 'dataset'): void;
  /** File bytes served (GET bodies) per `<type>s/<repo>`. */
  bytesServed: Map<string, number>;
  requests: string[];
  close(): Promise<void>;
}

const LFS_PATTERN = /\.(safetensors|bin|pt|gguf|parquet)$/;

async function filesOf(dir: string): Promise<HubFile[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const out: HubFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const source = join(e.parentPath, e.name);
    const bytes = await readFile(source);
    out.push({
      path: relative(dir, source).split('\\').join('/'),
      size: bytes.length,
      oid: createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      lfs: LFS_PATTERN.test(e.name),
      source,
    });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export async function startHubServer(options: { token?: string; pageSize?: number } = {}): Promise<HubServer> {
  const repos = new Map<string, Repo>();
  const bytesServed = new Map<string, number>();
  const requests: string[] = [];
  const pageSize = options.pageSize ?? 50;
  const key = (type: string, repo: string) => `${type}s/${repo}`;

  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Code': code, 'X-Error-Message': message });
    res.end(JSON.stringify({ error: message }));
  };

  /** The repository and commit a request names, or an error already sent. */
  const locate = (req: IncomingMessage, res: ServerResponse, type: string, repoName: string, rev: string) => {
    const repo = repos.get(key(type, repoName));
    const auth = req.headers.authorization;
    if (!repo) {
      fail(res, 404, 'RepoNotFound', `Repository ${repoName} not found`);
      return undefined;
    }
    if (repo.gated) {
      if (!auth) {
        fail(res, 401, 'GatedRepo', `Access to ${repoName} is restricted: log in`);
        return undefined;
      }
      if (auth !== `Bearer ${options.token}`) {
        fail(res, 403, 'GatedRepo', `Access to ${repoName} is restricted and you are not in the authorized list`);
        return undefined;
      }
    }
    const decoded = decodeURIComponent(rev);
    const sha = repo.refs.get(decoded) ?? (repo.commits.has(decoded) ? decoded : undefined);
    const files = sha ? repo.commits.get(sha) : undefined;
    if (!sha || !files) {
      fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${decoded}`);
      return undefined;
    }
    return { repo, sha, files };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const path = url.pathname;
    requests.push(`${req.method} ${path}${url.search}`);
    let m = path.match(/^\/api\/(model|dataset)s\/([^/]+\/[^/]+)(\/revision\/([^/]+))?$/);
    if (m) {
      const [, type = '', repoName = '', , rev = 'main'] = m;
      const found = locate(req, res, type, repoName, rev);
      if (!found) return;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          _id: key(type, repoName),
          id: repoName,
          sha: found.sha,
          private: false,
          gated: found.repo.gated ? 'manual' : false,
          downloads: 0,
          likes: 0,
          lastModified: new Date(0).toISOString(),
          siblings: found.files.map((f) => ({ rfilename: f.path })),
        }),
      );
      return;
    }
    m = path.match(/^\/api\/(model|dataset)s\/([^/]+\/[^/]+)\/tree\/([^/]+)(\/.*)?$/);
    if (m) {
      const [, type = '', repoName = '', rev = '', sub = ''] = m;
      const found = locate(req, res, type, repoName, rev);
      if (!found) return;
      const prefix = decodeURIComponent(sub.replace(/^\//, ''));
      const recursive = url.searchParams.get('recursive') === 'true';
      const under = found.files.filter((f) => prefix === '' || f.path.startsWith(`${prefix}/`));
      if (prefix !== '' && under.length === 0) return fail(res, 404, 'EntryNotFound', `${prefix} does not exist`);
      const items: object[] = [];
      const dirs = new Set<string>();
      for (const f of under) {
        const rest = prefix === '' ? f.path : f.path.slice(prefix.length + 1);
        const parts = rest.split('/');
        for (let i = 1; i < parts.length; i++) {
          const d = [prefix, ...parts.slice(0, i)].filter((x) => x !== '').join('/');
          if ((recursive || i === 1) && !dirs.has(d)) {
            dirs.add(d);
            items.push({ type: 'directory', oid: createHash('sha1').update(d).digest('hex'), size: 0, path: d });
          }
        }
        if (!recursive && parts.length > 1) continue;
        items.push({
          type: 'file',
          oid: f.oid,
          size: f.size,
          path: f.path,
          ...(f.lfs && { lfs: { oid: f.sha256, size: f.size, pointerSize: 134 } }),
        });
      }
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      const page = items.slice(cursor, cursor + pageSize);
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (cursor + pageSize < items.length) {
        const next = new URL(url.toString());
        next.searchParams.set('cursor', String(cursor + pageSize));
        headers.Link = `<http://${req.headers.host}${next.pathname}${next.search}>; rel="next"`;
      }
      res.writeHead(200, headers);
      res.end(JSON.stringify(page));
      return;
    }
    m = path.match(/^\/lfs\/([0-9a-f]{64})$/);
    if (m) {
      for (const [name, repo] of repos) {
        for (const files of repo.commits.values()) {
          const f = files.find((x) => x.sha256 === m?.[1]);
          if (f) return sendFile(req, res, f, name, { ETag: `"${f.sha256}"` });
        }
      }
      return fail(res, 404, 'EntryNotFound', 'no such object');
    }
    m = path.match(/^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (m) {
      const [, datasets, repoName = '', rev = '', filePath = ''] = m;
      const type = datasets ? 'dataset' : 'model';
      const found = locate(req, res, type, repoName, rev);
      if (!found) return;
      const f = found.files.find((x) => x.path === decodeURIComponent(filePath));
      if (!f) return fail(res, 404, 'EntryNotFound', `${filePath} does not exist at ${found.sha}`);
      const common = { 'X-Repo-Commit': found.sha, 'Access-Control-Expose-Headers': 'X-Repo-Commit' };
      if (f.lfs) {
        res.writeHead(302, {
          ...common,
          // To another origin, as the Hub redirects to its CDN: huggingface_hub follows redirects of the same
          // origin while reading the headers and stops at others, keeping this response's X-Repo-Commit and ETags.
          Location: `${cdnUrl}/lfs/${f.sha256}`,
          ETag: `"${f.oid}"`,
          'X-Linked-Etag': `"${f.sha256}"`,
          'X-Linked-Size': String(f.size),
          'Content-Length': '0',
        });
        res.end();
        return;
      }
      return sendFile(req, res, f, key(type, repoName), { ...common, ETag: `"${f.oid}"` });
    }
    fail(res, 404, 'NotFound', `no route for ${path}`);
  };

  const sendFile = async (
    req: IncomingMessage,
    res: ServerResponse,
    f: HubFile,
    counter: string,
    headers: Record<string, string>,
  ) => {
    const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
    const start = range ? Number(range[1]) : 0;
    const end = range?.[2] ? Math.min(Number(range[2]), f.size - 1) : f.size - 1;
    const status = range ? 206 : 200;
    res.writeHead(status, {
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(Math.max(0, end - start + 1)),
      'Accept-Ranges': 'bytes',
      ...(range && { 'Content-Range': `bytes ${start}-${end}/${f.size}` }),
    });
    if (req.method === 'HEAD' || f.size === 0) return res.end();
    bytesServed.set(counter, (bytesServed.get(counter) ?? 0) + (end - start + 1));
    createReadStream(f.source, { start, end }).pipe(res);
  };

  const listen = async () => {
    const server: Server = createServer((req, res) => {
      handle(req, res).catch((error: Error) => {
        if (!res.headersSent) fail(res, 500, 'Internal', error.message);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  };
  const api = await listen();
  const cdn = await listen();
  const cdnUrl = cdn.url;
  const repoOf = (repo: string, type: 'model' | 'dataset') => {
    const k = key(type, repo);
    let r = repos.get(k);
    if (!r) {
      r = { commits: new Map(), refs: new Map(), gated: false };
      repos.set(k, r);
    }
    return r;
  };
  return {
    url: api.url,
    bytesServed,
    requests,
    async publish(repo, dir, opts = {}) {
      const type = opts.type ?? 'model';
      const r = repoOf(repo, type);
      const files = await filesOf(dir);
      const parent = r.refs.get(opts.branch ?? 'main') ?? '';
      const sha = createHash('sha1')
        .update(`${parent}\n${files.map((f) => `${f.oid} ${f.path}`).join('\n')}\n${r.commits.size}`)
        .digest('hex');
      r.commits.set(sha, files);
      r.refs.set(opts.branch ?? 'main', sha);
      return sha;
    },
    setBranch(repo, branch, sha, type = 'model') {
      repoOf(repo, type).refs.set(branch, sha);
    },
    gate(repo, type = 'model') {
      repoOf(repo, type).gated = true;
    },
    close: async () => {
      for (const { server } of [api, cdn]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
