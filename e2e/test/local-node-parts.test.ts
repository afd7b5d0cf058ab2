import { mkdtempSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseQuantity } from '@lota/api/quantity';
import { describe, expect, it } from 'vitest';
import { expand } from '../node/env.ts';
import { makeContainerFs } from '../node/filesystem.ts';
import { findImage, localArgv } from '../node/images.ts';

describe('container filesystem mapping', () => {
  const base = mkdtempSync(join(tmpdir(), 'lota-fs-test-'));
  const fs = makeContainerFs(
    join(base, 'root'),
    [
      { containerPath: '/mnt/pvc/models', localPath: join(base, 'claims/models') },
      { containerPath: '/scratch', localPath: join(base, 'empty') },
    ],
    '/dev/termination-log',
  );

  it('links each mount into the container root', () => {
    expect(readlinkSync(join(base, 'root/mnt/pvc/models'))).toBe(join(base, 'claims/models'));
  });

  it('rewrites mounts, their parents and the termination path, but not other absolute paths', () => {
    const root = join(base, 'root');
    expect(fs.rewrite('/mnt/pvc')).toBe(`${root}/mnt/pvc`);
    expect(fs.rewrite('--out=/mnt/pvc/models/run1')).toBe(`--out=${root}/mnt/pvc/models/run1`);
    expect(fs.rewrite('echo hi > /dev/termination-log; ls /scratch/x')).toBe(
      `echo hi > ${root}/dev/termination-log; ls ${root}/scratch/x`,
    );
    expect(fs.rewrite('/bin/sh /scratchpad /mnt/other /devices')).toBe('/bin/sh /scratchpad /mnt/other /devices');
    expect(fs.terminationFile).toBe(`${root}/dev/termination-log`);
  });
});

describe('image mappings', () => {
  const images = [
    {
      match: 'ghcr.io/lota-operator/lota-trainer',
      entrypoint: ['lota-trainer'],
      programs: { 'lota-trainer': ['node', 'cli.ts'] },
    },
    { match: 'busybox', host: true },
  ];

  it('matches by repository, with any tag or digest, Docker Hub names normalised', () => {
    expect(findImage(images, 'ghcr.io/lota-operator/lota-trainer:0.1.0')?.match).toBe(
      'ghcr.io/lota-operator/lota-trainer',
    );
    expect(findImage(images, 'docker.io/library/busybox@sha256:abc')?.match).toBe('busybox');
    expect(findImage(images, 'ghcr.io/other/lota-trainer:1')).toBeUndefined();
  });

  it('follows command/args over entrypoint and maps programs', () => {
    const trainer = images[0] as (typeof images)[0];
    expect(localArgv(trainer, undefined, ['train'])).toEqual(['node', 'cli.ts', 'train']);
    expect(localArgv(trainer, ['/usr/local/bin/lota-trainer', 'merge'], undefined)).toEqual([
      'node',
      'cli.ts',
      'merge',
    ]);
    expect(() => localArgv(trainer, ['python'], ['x.py'])).toThrow(/python.*not in the local mapping/);
    expect(localArgv({ match: 'busybox', host: true }, ['sh', '-c', 'true'], undefined)).toEqual(['sh', '-c', 'true']);
  });
});

describe('env and quantities', () => {
  it('expands $(VAR) like Kubernetes: known names, $$ escapes, unknown names kept', () => {
    expect(expand('$(A)-$$(A)-$(B)', { A: 'x' })).toBe('x-$(A)-$(B)');
  });

  it('parses resource quantities', () => {
    expect(parseQuantity('500m')).toBe(0.5);
    expect(parseQuantity('2Gi')).toBe(2 * 2 ** 30);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(() => parseQuantity('lots')).toThrow(/invalid resource quantity/);
  });
});
