// Throwaway PKI for one control plane: a CA, the API server's serving certificate, an admin client certificate in
// system:masters, and the service-account signing key pair. Made with the openssl CLI (EC P-256: fast to generate,
// accepted by every component), valid for two days, written into `dir`.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

/** A certificate signed by the PKI's CA (EC P-256, two days): `ext` are extra X.509v3 extensions. */
export function issueCert(
  pki: Pick<Pki, 'caCert' | 'caKey'>,
  o: { subj: string; key: string; cert: string; ext: string[] },
) {
  return openssl([
    'req',
    '-x509',
    '-CA',
    pki.caCert,
    '-CAkey',
    pki.caKey,
    ...EC,
    '-days',
    '2',
    '-subj',
    o.subj,
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature',
    ...o.ext.flatMap((e) => ['-addext', e]),
    '-keyout',
    o.key,
    '-out',
    o.cert,
  ]);
}

export async function makePki(dir: string, opts: { serviceIp: string; extraIps?: string[] }): Promise<Pki> {
  const p = (name: string) => join(dir, name);
  const pki: Pki = {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    servingCert: p('apiserver.crt'),
    servingKey: p('apiserver.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    serviceAccountKey: p('sa.key'),
    serviceAccountPub: p('sa.pub'),
  };
  await openssl([
    'req',
    '-x509',
    ...EC,
    '-days',
    '2',
    '-subj',
    '/CN=lota-e2e-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    pki.caKey,
    '-out',
    pki.caCert,
  ]);
  const signed = (subj: string, key: string, cert: string, ext: string[]) => issueCert(pki, { subj, key, cert, ext });
  const sans = ['IP:127.0.0.1', `IP:${opts.serviceIp}`, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default'];
  for (const ip of opts.extraIps ?? []) sans.push(`IP:${ip}`);
  sans.push('DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local');
  await Promise.all([
    signed('/CN=kube-apiserver', pki.servingKey, pki.servingCert, [
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${sans.join(',')}`,
    ]),
    signed('/O=system:masters/CN=lota-e2e-admin', pki.adminKey, pki.adminCert, ['extendedKeyUsage=clientAuth']),
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', pki.serviceAccountKey]),
  ]);
  await openssl(['pkey', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPub]);
  return pki;
}

/** An admin kubeconfig with the certificates embedded, so it stays valid wherever it is copied. */
export async function writeKubeconfig(
  path: string,
  opts: { server: string; caCert: string; clientCert: string; clientKey: string },
): Promise<void> {
  const b64 = async (f: string) => (await readFile(f)).toString('base64');
  const [ca, cert, key] = await Promise.all([b64(opts.caCert), b64(opts.clientCert), b64(opts.clientKey)]);
  const yaml = `apiVersion: v1
kind: Config
clusters:
- name: lota-e2e
  cluster:
    server: ${opts.server}
    certificate-authority-data: ${ca}
users:
- name: lota-e2e-admin
  user:
    client-certificate-data: ${cert}
    client-key-data: ${key}
contexts:
- name: lota-e2e
  context:
    cluster: lota-e2e
    user: lota-e2e-admin
current-context: lota-e2e
`;
  await writeFile(path, yaml, { mode: 0o600 });
}
