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
