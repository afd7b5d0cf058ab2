// The test S3 server (e2e/servers/s3.ts, versitygw) must keep answering while the process that started it is busy:
// bench/staging.ts runs its reference client (boto3) with execFileSync, which blocks this event loop. versitygw writes
// one access-log line per request, so a log the parent has to drain would fill and stall the server after a few dozen
// requests (that was the "versitygw stops answering boto3 after ~260 MiB" of issue #13: 8 MiB ranges, ~33 requests).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '../servers/s3.ts';

// Sequential requests from a child process, each answered (any HTTP status) within its own deadline; prints how many.
const CLIENT = `
const [endpoint, n] = process.argv.slice(1);
let answered = 0;
for (let i = 0; i < Number(n); i++) {
  const r = await fetch(endpoint + '/probe/key-' + i, { signal: AbortSignal.timeout(15000) }).catch((e) => e);
  if (r instanceof Error) break;
  await r.arrayBuffer();
  answered++;
}
console.log(answered);
`;

describe('test S3 server', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
  });
  afterAll(() => s3?.stop());

  it('answers many requests while the parent event loop is blocked, and its log holds them', () => {
    const n = 400;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', CLIENT, s3.endpoint, String(n)], {
      encoding: 'utf8',
    });
    expect(Number(out)).toBe(n);
    expect(s3.log().match(/ GET \| \/probe\/key-/g)?.length).toBe(n);
  });
});
