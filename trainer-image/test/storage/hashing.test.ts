// writeHashed: the bytes land in the file as they came, in many chunks, from a Node or a web stream; sha256 always,
// the git blob id only when asked for; a failing source rejects.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHashed } from '../../src/storage/hashing.ts';

describe('writeHashed', () => {
  let dir: string;
  const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(65_537 + i, i));
  const all = Buffer.concat(chunks);
  const sha256 = createHash('sha256').update(all).digest('hex');
  const gitOid = createHash('sha1').update(`blob ${all.length}\0`).update(all).digest('hex');
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lota-hashing-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes a Node stream and reports its size and sha256, without a git blob id unless asked', async () => {
    const path = join(dir, 'node.bin');
    const written = await writeHashed(Readable.from(chunks), path, all.length);
    expect(written).toEqual({ bytes: all.length, sha256 });
    expect((await readFile(path)).equals(all)).toBe(true);
  });

  it('writes a web stream and reports the git blob id when asked', async () => {
    const path = join(dir, 'web.bin');
    const written = await writeHashed(new Blob(chunks).stream(), path, all.length, { gitOid: true });
    expect(written).toEqual({ bytes: all.length, sha256, gitOid });
    expect((await readFile(path)).equals(all)).toBe(true);
  });

  it('rejects when the source fails midway', async () => {
    const failing = Readable.from(
      (async function* () {
        yield chunks[0];
        throw new Error('connection reset');
      })(),
    );
    await expect(writeHashed(failing, join(dir, 'broken.bin'), all.length)).rejects.toThrow('connection reset');
  });
});
