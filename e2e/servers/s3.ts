// A real S3-compatible server for tests and benchmarks: versitygw (built by scripts/setup-s3.sh) serving a local
// directory, with one root access key (its secret is random per server, so tests can grep for it).
// Its output (one access-log line per request) goes to a file, not to a pipe: a pipe is drained only while our event
// loop runs, so a caller that blocks it (execFileSync of a reference client, as bench/staging.ts does) would fill the
// pipe after a few dozen requests and versitygw would stop answering (e2e/test/s3-server.test.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
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
  /** versitygw's process id (bench/staging.ts reads its CPU time). */
  pid: number;
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
  // Beside the served directory, never in it (a top-level entry of `root` is a bucket to versitygw).
  const logDir = await mkdtemp(join(tmpdir(), 'lota-s3-log-'));
  const logFile = join(logDir, 'versitygw.log');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(tool('LOTA_VERSITYGW'), ['--port', `127.0.0.1:${port}`, 'posix', root], {
      env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  const output = () => readFileSync(logFile, 'utf8');
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`versitygw exited with ${child.exitCode}: ${output()}`);
    const up = await fetch(endpoint).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (i > 200) {
      const log = output();
      child.kill('SIGKILL');
      await rm(logDir, { recursive: true, force: true });
      throw new Error(`versitygw did not answer on ${endpoint}: ${log}`);
    }
    await sleep(50);
  }
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    root,
    pid: child.pid as number,
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
    log: output,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
      await rm(logDir, { recursive: true, force: true });
      if (!options.root) await rm(root, { recursive: true, force: true });
    },
  };
}
