import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inClusterCredentials, kubeconfigCredentials, UnsupportedKubeconfig } from '../src/kube/credentials.ts';

const dir = mkdtempSync(join(tmpdir(), 'lota-creds-'));
const kubeconfig = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) => {
  const file = join(dir, `config-${Math.random().toString(16).slice(2)}`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
      clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443/', ...cluster } }],
      users: [{ name: 'u', user }],
    }),
  );
  return file;
};

describe('kubeconfig and in-cluster credentials', () => {
  it('reads inline data, files relative to the kubeconfig, and tokens', () => {
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    writeFileSync(join(dir, 'key.pem'), 'KEY');
    writeFileSync(join(dir, 'token'), 'from-file\n');
    const c = kubeconfigCredentials(
      kubeconfig(
        {
          'client-certificate-data': Buffer.from('CERT').toString('base64'),
          'client-key': 'key.pem',
          tokenFile: 'token',
        },
        { 'certificate-authority': 'ca.pem', 'tls-server-name': 'api' },
      ),
    );
    expect(c.server).toBe('https://127.0.0.1:6443');
    expect(String(c.tls.ca)).toBe('CA');
    expect(String(c.tls.cert)).toBe('CERT');
    expect(String(c.tls.key)).toBe('KEY');
    expect(c.tls.servername).toBe('api');
    expect(c.headers()).toEqual({ authorization: 'Bearer from-file' });
  });

  it('names what is missing, and leaves exec plugins to client-node', () => {
    expect(() => kubeconfigCredentials(kubeconfig({ 'client-key': 'missing.pem' }))).toThrow(/missing\.pem/);
    expect(() => kubeconfigCredentials(kubeconfig({ exec: { command: 'aws' } }))).toThrow(UnsupportedKubeconfig);
    expect(kubeconfigCredentials(kubeconfig({ username: 'a', password: 'b' })).headers()).toEqual({
      authorization: `Basic ${Buffer.from('a:b').toString('base64')}`,
    });
  });

  it('in a cluster: the service host and the mounted token and CA', () => {
    writeFileSync(join(dir, 'ca.crt'), 'SA-CA');
    expect(() => inClusterCredentials({}, dir)).toThrow(/not in a cluster/);
    const c = inClusterCredentials({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(c.server).toBe('https://[fd00::1]:443');
    expect(c.headers()).toEqual({ authorization: 'Bearer from-file' });
    expect(String(c.tls.ca)).toBe('SA-CA');
  });
});
