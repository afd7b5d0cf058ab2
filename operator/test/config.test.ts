import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';

describe('parseConfig', () => {
  it('reads flags before env before defaults', () => {
    const c = parseConfig(['--namespaces', 'a, b', '--workers', '4', '--leader-elect=false'], {
      LOTA_TRAINER_IMAGE: 'img:1',
      LOTA_WATCH_NAMESPACES: 'ignored',
      POD_NAMESPACE: 'ops',
    });
    expect(c).toMatchObject({
      namespaces: ['a', 'b'],
      trainerImage: 'img:1',
      workers: 4,
      leaderElect: false,
      leaseNamespace: 'ops',
      metricsPort: 8080,
      healthPort: 8081,
    });
    expect(parseConfig([], { LOTA_TRAINER_IMAGE: 'i', LOTA_WATCH_NAMESPACES: '' }).namespaces).toEqual([]);
  });

  it('reads the API client and concurrency flags', () => {
    const d = parseConfig([], { LOTA_TRAINER_IMAGE: 'i' });
    expect(d).toMatchObject({
      workers: 8,
      kubeApiQps: 200,
      kubeApiBurst: 400,
      kubeApiTimeoutMs: 5000,
      kubeApiHttp2: true,
    });
    const c = parseConfig(
      ['--max-concurrent-reconciles=3', '--kube-api-qps=50.5', '--kube-api-burst=60', '--kube-api-timeout=2.5'],
      { LOTA_TRAINER_IMAGE: 'i', LOTA_WORKERS: '9', LOTA_KUBE_API_HTTP2: 'false' },
    );
    expect(c).toMatchObject({
      workers: 3,
      kubeApiQps: 50.5,
      kubeApiBurst: 60,
      kubeApiTimeoutMs: 2500,
      kubeApiHttp2: false,
    });
    expect(() => parseConfig(['--kube-api-timeout=soon'], { LOTA_TRAINER_IMAGE: 'i' })).toThrow(
      /--kube-api-timeout: expected a non-negative number/,
    );
    expect(() => parseConfig(['--max-concurrent-reconciles=0'], { LOTA_TRAINER_IMAGE: 'i' })).toThrow(
      /--max-concurrent-reconciles: must be at least 1/,
    );
  });

  it('refuses bad values with a message naming the flag', () => {
    expect(() => parseConfig([], {})).toThrow(/--trainer-image .* is required/);
    expect(() => parseConfig(['--workers', 'two'], { LOTA_TRAINER_IMAGE: 'i' })).toThrow(
      /--workers: expected a non-negative integer/,
    );
    expect(() => parseConfig(['--leader-elect=maybe'], { LOTA_TRAINER_IMAGE: 'i' })).toThrow(
      /--leader-elect: expected true or false/,
    );
    expect(() => parseConfig(['--no-such-flag'], { LOTA_TRAINER_IMAGE: 'i' })).toThrow(/no-such-flag/);
  });
});
