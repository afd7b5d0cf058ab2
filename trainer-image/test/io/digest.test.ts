import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestPath } from '../../src/io/digest.ts';

const PIPELINE = "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum";

describe('digestPath', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'digest-'));
    await mkdir(join(dir, 'out', 'sub', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'out', 'model.safetensors'), Buffer.alloc(300_000, 7));
    await writeFile(join(dir, 'out', 'config.json'), '{"a":1}\n');
    await writeFile(join(dir, 'out', 'Zeta.txt'), 'upper case sorts first in byte order\n');
    await writeFile(join(dir, 'out', 'sub.txt'), '"." sorts before "/"\n');
    await writeFile(join(dir, 'out', 'sub', 'deeper', 'x'), 'nested\n');
    await writeFile(join(dir, 'out', '.hidden'), 'find lists hidden files\n');
    await writeFile(join(dir, 'elsewhere'), 'not part of the output\n');
    await symlink(join(dir, 'elsewhere'), join(dir, 'out', 'link'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("a directory's digest is what the sha256sum pipeline prints for it", async () => {
    const expected = execFileSync('bash', ['-c', PIPELINE], { cwd: join(dir, 'out'), encoding: 'utf8' }).split(' ')[0];
    const got = await digestPath(join(dir, 'out'));
    expect(got.sha256).toBe(expected);
    const files = [300_000, 8, 37, 21, 7, 24];
    expect(got.bytes).toBe(files.reduce((a, b) => a + b, 0));
  });

  it('takes the digests it is given for files hashed while written, instead of reading them', async () => {
    const out = join(dir, 'out');
    const expected = execFileSync('bash', ['-c', PIPELINE], { cwd: out, encoding: 'utf8' }).split(' ')[0];
    const model = await digestPath(join(out, 'model.safetensors'));
    expect((await digestPath(out, new Map([['model.safetensors', model]]))).sha256).toBe(expected);
    const other = { sha256: 'f'.repeat(64), bytes: model.bytes };
    const given = await digestPath(out, new Map([['model.safetensors', other]]));
    expect(given.sha256).not.toBe(expected);
    expect(given.bytes).toBe((await digestPath(out)).bytes);
  });

  it("a file's digest is the sha256 of its bytes", async () => {
    const path = join(dir, 'out', 'model.safetensors');
    const got = await digestPath(path);
    expect(got).toEqual({
      sha256: createHash('sha256').update(Buffer.alloc(300_000, 7)).digest('hex'),
      bytes: 300_000,
    });
  });
});
