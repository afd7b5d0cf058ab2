// Staging throughput: a 1 GiB sharded model (8 safetensors-named shards of 128 MiB of random bytes) downloaded from
// a local S3 server (versitygw) by the trainer's staging and by boto3's download_file, alternately, in one run. Prints
// MiB/s of each (best of the rounds) and the ratio ours / boto3 (target ≥ 0.8). Not a test.
// What each side does per object: ours (trainer-image/src/storage: stagePhase → download-pool.ts → downloadS3Object,
// min(4, cores) objects at once) lists the prefix, makes one GET pinned to the ETag (If-Match), hashes every byte with
// sha256 while writing it to a temporary file, checks size and sha256 against the object's lota-sha256 metadata, and
// renames it into the content-keyed cache.
// boto3 (bench/staging_boto3.py) makes a HEAD, then 8 MiB ranged GETs on 10 threads pinned with If-Match, writes them
// to a temporary file and renames it; it hashes nothing (the objects' checksums are multipart composites). Neither
// side fsyncs. Each round also prints the CPU seconds each client and the server spent (user + system; the server's
// from /proc): on a loaded machine the wall-clock ratio follows the load, the CPU cost per byte does not.
//   node bench/staging.ts [MiB per shard = 128] [shards = 8] [rounds = 3]
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startS3Server } from '../e2e/servers/s3.ts';
import { s3Client, uploadS3File } from '../trainer-image/src/storage/s3.ts';
import { stagePhase } from '../trainer-image/src/storage/stage.ts';

const shardMiB = Number(process.argv[2] ?? 128);
const shards = Number(process.argv[3] ?? 8);
const rounds = Number(process.argv[4] ?? 3);
const work = await mkdtemp(join(tmpdir(), 'lota-bench-staging-'));
const s3 = await startS3Server({ root: join(work, 's3') }).catch(async (error) => {
  await rm(work, { recursive: true, force: true });
  throw error;
});
const python = execFileSync('bash', [fileURLToPath(new URL('./setup-boto3.sh', import.meta.url))], {
  encoding: 'utf8',
}).trim();
Object.assign(process.env, s3.env);
/** versitygw's user + system CPU seconds so far (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 1/100 s). */
const serverCpu = () => {
  const fields = readFileSync(`/proc/${s3.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const config = {
  hubEndpoint: 'https://huggingface.co',
  s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
  cacheDir: join(work, 'cache'),
};

try {
  await s3.createBucket('bench');
  const client = s3Client(config);
  const keys: string[] = [];
  for (let i = 1; i <= shards; i++) {
    const key = `model/model-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const file = join(work, `shard-${i}`);
    const out = createWriteStream(file);
    const chunk = Buffer.alloc(8 * 1024 * 1024);
    for (let written = 0; written < shardMiB * 1024 * 1024; written += chunk.length) {
      if (!out.write(randomFillSync(chunk))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise((resolve) => out.end(resolve));
    await uploadS3File(client, 'bench', key, file, `s3://bench/${key}`);
    await rm(file);
    keys.push(key);
  }
  const bytes = shards * shardMiB * 1024 * 1024;
  console.log(`model: ${shards} shards of ${shardMiB} MiB = ${(bytes / 2 ** 30).toFixed(2)} GiB on ${s3.endpoint}`);

  const ours: number[] = [];
  const boto: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await rm(config.cacheDir, { recursive: true, force: true });
    const server0 = serverCpu();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const staged = await stagePhase({
      spec: { baseModel: { uri: 's3://bench/model' }, output: { uri: `file://${join(work, `out-${round}`)}` } },
      ticketRefs: {},
      pvcRoot: work,
      scratchDir: join(work, 'scratch'),
      config,
      log: () => {},
    });
    ours.push((performance.now() - t0) / 1000);
    const cpu = process.cpuUsage(cpu0);
    const oursCpu = (cpu.user + cpu.system) / 1e6;
    const oursServer = serverCpu() - server0;
    if (staged.downloadedBytes !== bytes) throw new Error(`staged ${staged.downloadedBytes} bytes, expected ${bytes}`);

    const dest = join(work, 'boto');
    await rm(dest, { recursive: true, force: true });
    const server1 = serverCpu();
    const out = execFileSync(
      python,
      [fileURLToPath(new URL('./staging_boto3.py', import.meta.url)), s3.endpoint, 'bench', dest, ...keys],
      {
        encoding: 'utf8',
        env: { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
      },
    );
    const result = JSON.parse(out.trim().split('\n').at(-1) as string) as { seconds: number; cpu: number };
    boto.push(result.seconds);
    const botoServer = serverCpu() - server1;
    console.log(
      `round ${round + 1}: ours ${ours.at(-1)?.toFixed(2)} s (CPU ${oursCpu.toFixed(2)} s, server ${oursServer.toFixed(2)} s), ` +
        `boto3 ${result.seconds.toFixed(2)} s (CPU ${result.cpu.toFixed(2)} s, server ${botoServer.toFixed(2)} s)`,
    );
  }
  const mibs = (s: number) => bytes / 2 ** 20 / s;
  const best = (xs: number[]) => Math.min(...xs);
  console.log(
    `staging (ours, sha256 verified): ${mibs(best(ours)).toFixed(0)} MiB/s; boto3 download_file: ${mibs(best(boto)).toFixed(0)} MiB/s; ` +
      `ratio ours/boto3 = ${(mibs(best(ours)) / mibs(best(boto))).toFixed(2)} (best of ${rounds}; target ≥ 0.8)`,
  );
  client.destroy();
} finally {
  await s3.stop();
  await rm(work, { recursive: true, force: true });
}
