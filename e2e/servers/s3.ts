// A real S3-compatible server for tests and benchmarks: versitygw (built by scripts/setup-s3.sh) serving a local
// directory, with one root access key (its secret is random per server, so tests can grep for it).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { tool } from '../../scripts/toolchain.ts';

export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  root: string;
  /** Environment a trainer process needs to reach it (AWS SDK variables, path-style addressing). */
  env: Record<string, string>;
  createBucket(name: string): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startS3Server(options: { root?: string } = {}): Promise<S3Server> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'lota-s3-')));
  await mkdir(root, { recursive: true });
  const accessKeyId = 'lotatestaccess';
  const secretAccessKey = `lota-test-secret-${Math.random().toString(36).slice(2, 12)}`;
  const port = await freePort();
  let output = '';
  const child: ChildProcess = spawn(tool('LOTA_VERSITYGW'), ['--port', `127.0.0.1:${port}`, 'posix', root], {
    env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`versitygw exited with ${child.exitCode}: ${output}`);
    const up = await fetch(endpoint).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (i > 200) throw new Error(`versitygw did not answer on ${endpoint}: ${output}`);
    await sleep(50);
  }
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    root,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      LOTA_S3_FORCE_PATH_STYLE: 'true',
    },
    async createBucket(name) {
      const client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
      });
      await client.send(new CreateBucketCommand({ Bucket: name }));
      client.destroy();
    },
    log: () => output,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
      if (!options.root) await rm(root, { recursive: true, force: true });
    },
  };
}
