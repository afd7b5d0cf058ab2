// Pod IPs on loopback. Linux routes all of 127.0.0.0/8 to lo, so every pod can bind its own 127.x.y.N without any
// interface set-up. Each node draws a random /24 (127.A.B.0, A ≥ 1) so two nodes on one machine — two test runs at
// once — do not hand out the same address; the host itself stays 127.0.0.1.
import { randomInt } from 'node:crypto';

export class IpPool {
  readonly prefix: string;
  private readonly used = new Set<number>();

  constructor(prefix = `127.${randomInt(1, 255)}.${randomInt(0, 255)}.`) {
    this.prefix = prefix;
  }

  allocate(): string {
    for (let host = 2; host < 255; host++) {
      if (!this.used.has(host)) {
        this.used.add(host);
        return `${this.prefix}${host}`;
      }
    }
    throw new Error(`pod IP range ${this.prefix}0/24 is exhausted (253 pods running)`);
  }

  release(ip: string): void {
    if (ip.startsWith(this.prefix)) this.used.delete(Number(ip.slice(this.prefix.length)));
  }
}
