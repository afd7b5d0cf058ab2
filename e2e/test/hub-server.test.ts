// The test Hub endpoint (e2e/servers/hub.ts) against the reference client, huggingface_hub: repository info and its
// commit sha, snapshot and single-file downloads through the resolve endpoint (LFS files behind a 302 with
// X-Linked-Etag/X-Linked-Size, X-Repo-Commit), and the errors the client maps to its own exception types.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tool } from '../../scripts/toolchain.ts';
import { type HubServer, startHubServer } from '../servers/hub.ts';

const BASE = fileURLToPath(new URL('../../trainer-image/assets/base-model', import.meta.url));
const CHECK = fileURLToPath(new URL('../servers/hub_check.py', import.meta.url));
const run = promisify(execFile);

describe('test Hub endpoint', () => {
  let hub: HubServer;
  let first: string;
  beforeAll(async () => {
    hub = await startHubServer({ token: 'hf_test_token_value' });
    first = await hub.publish('lota/base', BASE);
    await hub.publish('lota/gated', BASE);
    hub.gate('lota/gated');
  });
  afterAll(() => hub.close());

  it('serves what huggingface_hub reads: info, snapshot, file, and its typed errors', async () => {
    const { stdout } = await run(tool('LOTA_PYTHON'), [CHECK, 'lota/base', 'main', 'lota/gated', 'absent.bin'], {
      env: { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_XET: '1' },
      maxBuffer: 16 * 1024 * 1024,
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(out.sha).toBe(first);
    expect(out.snapshot).toBe(first);
    expect(out.files).toEqual(
      expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']),
    );
    expect(out.config.model_type).toBeDefined();
    expect(out.errors).toEqual({
      repo: 'RepositoryNotFoundError',
      revision: 'RevisionNotFoundError',
      file: 'EntryNotFoundError',
      gated: 'GatedRepoError',
    });
    // The LFS file went through the redirect; the repository counter saw its bytes.
    expect(hub.requests.some((r) => r.startsWith('GET /lfs/'))).toBe(true);
  }, 120_000);

  it('answers a 302 with X-Repo-Commit, ETag and X-Linked-Etag/-Size for LFS files, and ranges', async () => {
    const r = await fetch(`${hub.url}/lota/base/resolve/main/model.safetensors`, { redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(r.headers.get('x-repo-commit')).toBe(first);
    expect(r.headers.get('x-linked-etag')).toMatch(/^"[0-9a-f]{64}"$/);
    expect(Number(r.headers.get('x-linked-size'))).toBeGreaterThan(0);
    const small = await fetch(`${hub.url}/lota/base/resolve/${first}/config.json`, { headers: { Range: 'bytes=0-0' } });
    expect(small.status).toBe(206);
    expect(small.headers.get('content-range')).toMatch(/^bytes 0-0\/\d+$/);
    expect(small.headers.get('etag')).toMatch(/^"[0-9a-f]{40}"$/);
    const denied = await fetch(`${hub.url}/api/models/lota/gated/revision/main`, {
      headers: { Authorization: 'Bearer wrong' },
    });
    expect(denied.status).toBe(403);
  });
});
