// Staging hf:// inputs from the test Hub endpoint (e2e/servers/hub.ts) through @huggingface/hub: resolved to the
// commit once and recorded, later phases read that commit after the branch moved, a LoTTO dependant reads the base
// at its tickets' commit, the cache serves a second run without a download, and each failure is classified.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubServer, startHubServer } from '../../../e2e/servers/hub.ts';
import { classify } from '../../src/cli/errors.ts';
import type { StorageConfig } from '../../src/storage/config.ts';
import { StorageError } from '../../src/storage/errors.ts';
import { stagePhase } from '../../src/storage/stage.ts';

const BASE = fileURLToPath(new URL('../../assets/base-model', import.meta.url));
const TOKEN = 'hf_secret_token_4711';

/** A port nothing listens on (connections are refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('staging hf:// inputs', () => {
  let hub: HubServer;
  let dir: string;
  let first: string;
  let second: string;
  const config = (over: Partial<StorageConfig> = {}): StorageConfig => ({
    hubEndpoint: hub.url,
    s3: { region: 'us-east-1', forcePathStyle: true },
    cacheDir: join(dir, 'cache'),
    ...over,
  });
  const stage = (spec: object, ticketRefs: Record<string, string> = {}, over: Partial<StorageConfig> = {}) =>
    stagePhase({
      spec,
      ticketRefs,
      pvcRoot: dir,
      scratchDir: join(dir, 'scratch'),
      config: config(over),
      log: () => {},
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lota-stage-hf-'));
    hub = await startHubServer({ token: TOKEN });
    first = await hub.publish('lota/base', BASE);
    const v2 = join(dir, 'v2');
    await cp(BASE, v2, { recursive: true });
    await writeFile(join(v2, 'README.md'), 'second revision\n');
    second = await hub.publish('lota/base', v2, { branch: 'next' });
    await hub.publish('lota/private', BASE);
    hub.gate('lota/private');
    await hub.publish('lota/data', join(BASE), { type: 'dataset' });
  });
  afterAll(async () => {
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves the revision once, verifies the files and rewrites the spec to the cache', async () => {
    const spec = {
      baseModel: { uri: 'hf://lota/base@main' },
      dataset: { uri: 'hf://datasets/lota/data@main/config.json' },
      output: { uri: `file://${dir}/out-a` },
    };
    const staged = await stage(spec);
    const s = staged.spec as typeof spec;
    expect(s.baseModel.uri).toBe(`file://${dir}/cache/hf/models/lota/base/${first}`);
    expect(s.dataset.uri).toMatch(/^file:\/\/.*\/hf\/datasets\/lota\/data\/[0-9a-f]{40}\/config\.json$/);
    const local = s.baseModel.uri.slice('file://'.length);
    expect(await readFile(join(local, 'model.safetensors'))).toEqual(await readFile(join(BASE, 'model.safetensors')));
    expect(staged.inputs.find((i) => i.uri === 'hf://lota/base@main')).toMatchObject({ revision: first });
    const served = () => [...hub.bytesServed.values()].reduce((a, b) => a + b, 0);
    const downloaded = served();
    expect(staged.downloadedBytes).toBeGreaterThan(0);
    // Plus one byte per file: @huggingface/hub probes each file with a `Range: bytes=0-0` request first.
    expect(downloaded - staged.downloadedBytes).toBeGreaterThanOrEqual(0);
    expect(downloaded - staged.downloadedBytes).toBeLessThanOrEqual(8);

    // The branch moves; the next phase of the same run reads the recorded commit, from the cache.
    hub.setBranch('lota/base', 'main', second);
    const again = await stage(spec);
    expect((again.spec as typeof spec).baseModel.uri).toBe(s.baseModel.uri);
    expect(again.downloadedBytes).toBe(0);
    expect(served()).toBe(downloaded);

    // A LoTTO dependant started after the move reads the base at the commit of the tickets it builds on.
    const dependant = await stage(
      { ...spec, output: { uri: `file://${dir}/out-b` } },
      { a: `file://${dir}/out-a/ticket.safetensors` },
    );
    expect(dependant.inputs.find((i) => i.uri === 'hf://lota/base@main')?.revision).toBe(first);
    // An unrelated run now sees the moved branch.
    const fresh = await stage({ ...spec, output: { uri: `file://${dir}/out-c` } });
    expect(fresh.inputs.find((i) => i.uri === 'hf://lota/base@main')?.revision).toBe(second);
    hub.setBranch('lota/base', 'main', first);
  });

  const failures: [string, object, Partial<StorageConfig>, string, RegExp][] = [
    [
      'a missing repository',
      { baseModel: { uri: 'hf://lota/nothing' } },
      {},
      'NotFound',
      /hf:\/\/lota\/nothing: .*HTTP 404/,
    ],
    [
      'a missing revision',
      { baseModel: { uri: 'hf://lota/base@v9' } },
      {},
      'NotFound',
      /hf:\/\/lota\/base@v9: .*HTTP 404/,
    ],
    [
      'a missing file',
      { baseModel: { uri: 'hf://lota/base/absent.json' } },
      {},
      'NotFound',
      /no file or folder absent\.json/,
    ],
    ['a gated repository without a token', { baseModel: { uri: 'hf://lota/private' } }, {}, 'AccessDenied', /HTTP 401/],
    [
      'a gated repository with a wrong token',
      { baseModel: { uri: 'hf://lota/private' } },
      { hubToken: 'hf_wrong_token_0815' },
      'AccessDenied',
      /HTTP 403/,
    ],
    [
      'an endpoint that does not answer',
      { baseModel: { uri: 'hf://lota/base' } },
      { hubEndpoint: 'http://127.0.0.1:CLOSED' },
      'EndpointUnreachable',
      /hf:\/\/lota\/base: resolving the revision failed: ECONNREFUSED/,
    ],
  ];
  for (const [what, spec, over, reason, message] of failures) {
    it(`fails permanently on ${what}, naming the URI and the status`, async () => {
      const endpoint = over.hubEndpoint?.replace('CLOSED', String(await closedPort()));
      const error = await stage(
        { ...spec, output: { uri: `file://${dir}/fail` } },
        {},
        { ...over, ...(endpoint && { hubEndpoint: endpoint }) },
      ).catch((e) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error.reason).toBe(reason);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain('wrong_token');
      expect(classify(error)).toEqual({ exitCode: 11, reason });
    }, 60_000);
  }

  it('reads a gated repository with the right token', async () => {
    const staged = await stage(
      { baseModel: { uri: 'hf://lota/private' }, output: { uri: `file://${dir}/gated-ok` } },
      {},
      { hubToken: TOKEN },
    );
    expect(staged.inputs[0]?.revision).toMatch(/^[0-9a-f]{40}$/);
  });
});
