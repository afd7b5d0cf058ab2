import { describe, expect, it } from 'vitest';
import { leaseDecision } from '../src/leader.ts';

describe('leaseDecision', () => {
  const held = { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: '2000-01-01T00:00:00.000000Z' };

  it('renews its own lease and takes a free one', () => {
    expect(leaseDecision({ ...held, holderIdentity: 'me' }, 'me', 0, 1e9)).toBe('renew');
    expect(leaseDecision(undefined, 'me', 0, 0)).toBe('acquire');
    expect(leaseDecision({ ...held, holderIdentity: '' }, 'me', 0, 0)).toBe('acquire');
  });

  it('judges expiry by the local clock since the record last changed, not by the timestamps in it', () => {
    // renewTime is decades old, but the record changed 14 s ago by our clock: still held.
    expect(leaseDecision(held, 'me', 1_000, 15_000)).toBe('wait');
    expect(leaseDecision(held, 'me', 1_000, 16_000)).toBe('acquire');
  });
});
