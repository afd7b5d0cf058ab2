import { describe, expect, it } from 'vitest';
import {
  ARTIFACT_URI_PATTERN,
  ArtifactUriError,
  claimsOf,
  formatArtifactUri,
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
    ['s3://bucket/key', /unknown scheme "s3"; supported: pvc, file/],
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
    for (const bad of ['s3://b/k', 'file://host/x', 'pvc://Bad/x', 'pvc://m/a b', 'pvc://m/a%20', 'file:relative']) {
      expect(re.test(bad), bad).toBe(false);
    }
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
