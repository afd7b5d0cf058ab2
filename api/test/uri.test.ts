import { describe, expect, it } from 'vitest';
import {
  ARTIFACT_URI_PATTERN,
  ArtifactUriError,
  claimsOf,
  formatArtifactUri,
  isRemoteUri,
  joinArtifactUri,
  parseArtifactUri,
  resolveArtifactUri,
  resolveRelativeFileUris,
} from '../src/uri.ts';

describe('parseArtifactUri', () => {
  it('parses pvc:// into claim and normalised path', () => {
    expect(parseArtifactUri('pvc://models/base/llama')).toEqual({
      scheme: 'pvc',
      claim: 'models',
      path: '/base/llama',
    });
    expect(parseArtifactUri('pvc://models')).toEqual({ scheme: 'pvc', claim: 'models', path: '/' });
    expect(parseArtifactUri('pvc://data.v2/a//b/./c/')).toEqual({ scheme: 'pvc', claim: 'data.v2', path: '/a/b/c' });
  });

  it('parses file:// absolute paths, with an empty or localhost authority', () => {
    expect(parseArtifactUri('file:///tmp/run/out')).toEqual({ scheme: 'file', path: '/tmp/run/out' });
    expect(parseArtifactUri('file://localhost/srv/x')).toEqual({ scheme: 'file', path: '/srv/x' });
    expect(parseArtifactUri('file:///')).toEqual({ scheme: 'file', path: '/' });
  });

  const refused: [string, RegExp][] = [
    ['pvc://models/a/../b', /'\.\.' path segments/],
    ['pvc://models/..', /'\.\.' path segments/],
    ['file:///data/../../etc/passwd', /'\.\.' path segments/],
    ['file://../etc', /absolute local path/],
    ['file://otherhost/x', /absolute local path/],
    ['file:relative/path', /expected <scheme>:\/\//],
    ['/abs/path', /expected <scheme>:\/\//],
    ['gs://bucket/key', /unknown scheme "gs"; supported: pvc, file, hf, s3/],
    ['hf://gpt2', /expected hf:\/\/<org>\/<name>/],
    ['hf://org/na..me', /'\.\.' is not allowed/],
    ['hf://org/name@main/../x', /'\.\.' path segments/],
    ['hf://org/-bad', /expected hf:\/\//],
    ['s3://Bad_Bucket/k', /not a valid S3 bucket name/],
    ['s3://ab/k', /not a valid S3 bucket name/],
    ['s3://bucket/a/../b', /'\.\.' path segments/],
    ['http://example.com/x', /unknown scheme "http"/],
    ['pvc:///no-claim', /needs a claim name/],
    ['pvc://Bad_Claim/x', /not a valid PersistentVolumeClaim name/],
    ['pvc://models/a%2e%2e/b', /character "%"/],
    ['pvc://models/a b', /character " "/],
    ['pvc://models/a?b', /character "\?"/],
    ['file:///a\\..\\b', /character "\\\\"/],
    ['file:///a\nb', /character "\\n"/],
    ['', /empty/],
    [`file:///${'a'.repeat(1100)}`, /longer than 1024/],
  ];
  for (const [uri, reason] of refused) {
    it(`refuses ${JSON.stringify(uri.slice(0, 40))}`, () => {
      expect(() => parseArtifactUri(uri)).toThrow(ArtifactUriError);
      expect(() => parseArtifactUri(uri)).toThrow(reason);
    });
  }

  it('agrees with the CRD pattern on every case above (same grammar in both places)', () => {
    const re = new RegExp(ARTIFACT_URI_PATTERN);
    for (const ok of ['pvc://models/base', 'pvc://m', 'file:///tmp/x', 'file://localhost/x'])
      expect(re.test(ok)).toBe(true);
    for (const ok of ['hf://Qwen/Qwen2.5-0.5B@main', 'hf://datasets/org/set@v1/train.jsonl', 's3://bucket/models/x/'])
      expect(re.test(ok), ok).toBe(true);
    for (const bad of [
      's3://b/k',
      'hf://gpt2',
      'file://host/x',
      'pvc://Bad/x',
      'pvc://m/a b',
      'pvc://m/a%20',
      'file:relative',
    ]) {
      expect(re.test(bad), bad).toBe(false);
    }
  });
});

describe('remote schemes', () => {
  it('parses hf:// models and datasets, with revision and path', () => {
    expect(parseArtifactUri('hf://Qwen/Qwen2.5-0.5B-Instruct')).toEqual({
      scheme: 'hf',
      repoType: 'model',
      repo: 'Qwen/Qwen2.5-0.5B-Instruct',
      path: '/',
    });
    expect(parseArtifactUri('hf://datasets/org/set@v1.0/data/train.jsonl')).toEqual({
      scheme: 'hf',
      repoType: 'dataset',
      repo: 'org/set',
      revision: 'v1.0',
      path: '/data/train.jsonl',
    });
    expect(parseArtifactUri('hf://org/m@0123abcd')).toMatchObject({ revision: '0123abcd', path: '/' });
  });

  it('parses s3:// objects and prefixes', () => {
    expect(parseArtifactUri('s3://models/llama/')).toEqual({ scheme: 's3', bucket: 'models', path: '/llama' });
    expect(parseArtifactUri('s3://my.bucket-1')).toEqual({ scheme: 's3', bucket: 'my.bucket-1', path: '/' });
  });

  it('formats what it parses and joins artifact paths under s3:// prefixes', () => {
    for (const uri of ['hf://o/n', 'hf://datasets/o/n@v2/x.jsonl', 's3://bucket/a/b']) {
      expect(formatArtifactUri(parseArtifactUri(uri))).toBe(uri);
    }
    expect(joinArtifactUri('s3://out/run1', 'ticket.safetensors')).toBe('s3://out/run1/ticket.safetensors');
  });

  it('are remote: resolving them to a local path is refused, and they need no claim', () => {
    expect(isRemoteUri('s3://bucket/k')).toBe(true);
    expect(isRemoteUri('pvc://c/k')).toBe(false);
    expect(() => resolveArtifactUri('hf://o/n')).toThrow(/remote; the trainer stages it/);
    expect(claimsOf(['s3://bucket/k', 'hf://o/n', 'pvc://c/x'])).toEqual(['c']);
  });
});

describe('resolveArtifactUri', () => {
  it('maps pvc:// under the pvc root and file:// to itself', () => {
    expect(resolveArtifactUri('pvc://models/run1/ticket.safetensors', { pvcRoot: '/mnt/pvc' })).toBe(
      '/mnt/pvc/models/run1/ticket.safetensors',
    );
    expect(resolveArtifactUri('pvc://models', { pvcRoot: '/x' })).toBe('/x/models');
    expect(resolveArtifactUri('file:///tmp/a/./b')).toBe('/tmp/a/b');
  });

  it('defaults the pvc root to the trainer contract default', () => {
    expect(resolveArtifactUri('pvc://c/p')).toBe('/mnt/pvc/c/p');
  });

  it('never leaves the claim, even given a hand-made parsed URI', () => {
    expect(() => resolveArtifactUri({ scheme: 'pvc', claim: 'c', path: '/../../etc' }, { pvcRoot: '/mnt' })).toThrow(
      /outside its claim/,
    );
  });
});

describe('helpers', () => {
  it('joins relative artifact paths and refuses to climb out', () => {
    expect(joinArtifactUri('pvc://models/run1', 'phases/train.json')).toBe('pvc://models/run1/phases/train.json');
    expect(joinArtifactUri('file:///out/', 'mask.safetensors')).toBe('file:///out/mask.safetensors');
    expect(() => joinArtifactUri('pvc://models/run1', '../run2/ticket.safetensors')).toThrow(/'\.\.'/);
  });

  it('formats what it parses', () => {
    for (const uri of ['pvc://models/a/b', 'pvc://models', 'file:///x/y']) {
      expect(formatArtifactUri(parseArtifactUri(uri))).toBe(uri);
    }
  });

  it('lists the claims to mount, once each, ignoring file:// URIs', () => {
    expect(claimsOf(['pvc://models/base', 'pvc://data/t.jsonl', 'pvc://models/out', 'file:///tmp/x'])).toEqual([
      'data',
      'models',
    ]);
  });

  it('resolves `file:relative` manifest URIs against the manifest directory, and nothing else', () => {
    const spec = { a: 'file:data/x.jsonl', b: ['file:../m'], c: 'file:///abs', d: 'pvc://c/p', e: 3 };
    expect(resolveRelativeFileUris(spec, '/repo/examples')).toEqual({
      a: 'file:///repo/examples/data/x.jsonl',
      b: ['file:///repo/m'],
      c: 'file:///abs',
      d: 'pvc://c/p',
      e: 3,
    });
  });
});
