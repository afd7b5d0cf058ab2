// A container's environment as a kubelet computes it: envFrom, then env (later wins), `$(VAR)` references expanded
// against what is defined so far, values from the downward API, resources, ConfigMaps and Secrets.
import type { V1Container, V1ObjectFieldSelector, V1Pod, V1ResourceFieldSelector } from '@kubernetes/client-node';
import { parseQuantity } from '@lota/api/quantity';

export interface ConfigSource {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

export interface PodFacts {
  pod: V1Pod;
  podIP: string;
  hostIP: string;
  /** Node allocatable, the value of a resource limit the container does not set. */
  allocatable: Record<string, string>;
}

/** Expands `$(NAME)` from `vars`; `$$` escapes `$`; unknown references stay as written (Kubernetes semantics). */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && name in vars ? (vars[name] as string) : whole;
  });
}

export function fieldValue(sel: V1ObjectFieldSelector, facts: PodFacts): string {
  const { pod } = facts;
  const path = sel.fieldPath;
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) {
    const map = keyed[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[keyed[2] as string] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return facts.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return facts.hostIP;
    default:
      throw new Error(`unsupported downward API fieldPath ${JSON.stringify(path)}`);
  }
}

export function resourceValue(sel: V1ResourceFieldSelector, container: V1Container, facts: PodFacts): string {
  const [kind, resource] = sel.resource.split('.', 2) as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || !resource) {
    throw new Error(`unsupported resourceFieldRef ${JSON.stringify(sel.resource)}`);
  }
  const set = container.resources?.[kind]?.[resource] ?? (kind === 'limits' ? facts.allocatable[resource] : undefined);
  const value = set === undefined ? 0 : parseQuantity(String(set));
  const divisor = sel.divisor === undefined ? 1 : parseQuantity(String(sel.divisor));
  // Kubernetes rounds up (a 250m limit reads as 1 CPU with the default divisor).
  return String(Math.ceil(value / divisor));
}

export async function containerEnv(
  container: V1Container,
  facts: PodFacts,
  config: ConfigSource,
  base: Record<string, string>,
): Promise<Record<string, string>> {
  const namespace = facts.pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { ...base };
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref?.name) continue;
    const data = from.configMapRef
      ? await config.configMap(namespace, ref.name)
      : await config.secret(namespace, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new Error(`${from.configMapRef ? 'configmap' : 'secret'} ${JSON.stringify(ref.name)} not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    const src = e.valueFrom;
    if (!src) {
      env[e.name] = expand(e.value ?? '', env);
    } else if (src.fieldRef) {
      env[e.name] = fieldValue(src.fieldRef, facts);
    } else if (src.resourceFieldRef) {
      env[e.name] = resourceValue(src.resourceFieldRef, container, facts);
    } else if (src.configMapKeyRef || src.secretKeyRef) {
      const ref = (src.configMapKeyRef ?? src.secretKeyRef) as { name?: string; key: string; optional?: boolean };
      const kind = src.configMapKeyRef ? 'configmap' : 'secret';
      const data = src.configMapKeyRef
        ? await config.configMap(namespace, ref.name ?? '')
        : await config.secret(namespace, ref.name ?? '');
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new Error(`${kind} ${JSON.stringify(ref.name)} has no key ${JSON.stringify(ref.key)}`);
      }
      env[e.name] = value;
    } else {
      throw new Error(`env ${e.name}: unsupported valueFrom`);
    }
  }
  return env;
}
