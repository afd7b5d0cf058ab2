// Pod volumes as local directories: emptyDir → a directory of the pod; persistentVolumeClaim → the bound
// PersistentVolume's hostPath/local path, or <pvcRoot>/<claim> when it has none; hostPath → itself; configMap,
// secret, downwardAPI and projected volumes → files written from the API (service-account tokens through the
// TokenRequest API). Anything else is refused with a message naming the volume.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { type ConfigSource, fieldValue, type PodFacts } from './env.ts';

export interface VolumeApi extends ConfigSource {
  /** The local directory of a claim: its PV's hostPath/local path if bound to one, else undefined. */
  claimPath(namespace: string, claim: string): Promise<string | undefined>;
  serviceAccountToken(
    namespace: string,
    account: string,
    audience?: string,
    expirationSeconds?: number,
  ): Promise<string>;
  caCert(): Promise<string>;
}

function writeItems(dir: string, data: Record<string, string>, items: V1KeyToPath[] | undefined, what: string): void {
  const chosen: V1KeyToPath[] = items?.length ? items : Object.keys(data).map((key) => ({ key, path: key }));
  for (const item of chosen) {
    const value = data[item.key];
    if (value === undefined) throw new Error(`${what} has no key ${JSON.stringify(item.key)}`);
    const file = join(dir, item.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, value, { mode: item.mode ?? 0o644 });
  }
}

async function writeSource(
  dir: string,
  v: Pick<V1Volume, 'configMap' | 'secret' | 'downwardAPI'>,
  facts: PodFacts,
  api: VolumeApi,
): Promise<void> {
  const ns = facts.pod.metadata?.namespace ?? 'default';
  if (v.configMap) {
    const data = await api.configMap(ns, v.configMap.name ?? '');
    if (!data && !v.configMap.optional) throw new Error(`configmap ${JSON.stringify(v.configMap.name)} not found`);
    writeItems(dir, data ?? {}, v.configMap.items, `configmap ${v.configMap.name}`);
  }
  if (v.secret) {
    const name =
      'secretName' in v.secret
        ? (v.secret as { secretName?: string }).secretName
        : (v.secret as { name?: string }).name;
    const data = await api.secret(ns, name ?? '');
    if (!data && !v.secret.optional) throw new Error(`secret ${JSON.stringify(name)} not found`);
    writeItems(dir, data ?? {}, v.secret.items, `secret ${name}`);
  }
  if (v.downwardAPI) {
    for (const item of v.downwardAPI.items ?? []) {
      if (!item.fieldRef) throw new Error(`downwardAPI item ${item.path}: only fieldRef is supported`);
      const file = join(dir, item.path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, fieldValue(item.fieldRef, facts));
    }
  }
}

/** Makes every volume of the pod and returns name → local directory. */
export async function prepareVolumes(
  pod: V1Pod,
  podDir: string,
  pvcRoot: string,
  facts: PodFacts,
  api: VolumeApi,
): Promise<Map<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const out = new Map<string, string>();
  for (const v of pod.spec?.volumes ?? []) {
    const own = join(podDir, 'volumes', v.name);
    if (v.emptyDir) {
      mkdirSync(own, { recursive: true });
      out.set(v.name, own);
    } else if (v.persistentVolumeClaim) {
      const claim = v.persistentVolumeClaim.claimName;
      const dir = (await api.claimPath(ns, claim)) ?? join(pvcRoot, claim);
      mkdirSync(dir, { recursive: true });
      out.set(v.name, dir);
    } else if (v.hostPath) {
      out.set(v.name, v.hostPath.path);
    } else if (v.configMap || v.secret || v.downwardAPI) {
      mkdirSync(own, { recursive: true });
      await writeSource(own, v, facts, api);
      out.set(v.name, own);
    } else if (v.projected) {
      mkdirSync(own, { recursive: true });
      for (const s of v.projected.sources ?? []) {
        if (s.serviceAccountToken) {
          const account = pod.spec?.serviceAccountName ?? 'default';
          const token = await api.serviceAccountToken(
            ns,
            account,
            s.serviceAccountToken.audience,
            s.serviceAccountToken.expirationSeconds,
          );
          writeFileSync(join(own, s.serviceAccountToken.path), token, { mode: 0o600 });
        } else if (s.configMap?.name === 'kube-root-ca.crt' && !(await api.configMap(ns, 'kube-root-ca.crt'))) {
          // The root-CA publisher may not have reached a brand-new namespace yet; the CA is the same everywhere.
          writeItems(own, { 'ca.crt': await api.caCert() }, s.configMap.items, 'configmap kube-root-ca.crt');
        } else {
          await writeSource(
            own,
            {
              configMap: s.configMap ? { ...s.configMap } : undefined,
              secret: s.secret ? { ...s.secret } : undefined,
              downwardAPI: s.downwardAPI ? { items: s.downwardAPI.items } : undefined,
            },
            facts,
            api,
          );
        }
      }
      out.set(v.name, own);
    } else {
      const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
      throw new Error(`volume ${JSON.stringify(v.name)}: type ${kind} is not supported by the local node`);
    }
  }
  return out;
}
