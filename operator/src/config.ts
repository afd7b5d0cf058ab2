// Configuration from flags, falling back to environment variables, falling back to defaults.

import { parseArgs } from 'node:util';
import type { StorageDefaults } from './reconcile/job.ts';

export interface OperatorConfig {
  /** Namespaces to watch; empty = all namespaces. */
  namespaces: string[];
  trainerImage: string;
  metricsPort: number;
  healthPort: number;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  workers: number;
  kubeconfig?: string;
  logLevel: string;
  progressIntervalSeconds: number;
  /** Client-side rate limit towards the API server: sustained requests per second (0 = none) and burst. */
  kubeApiQps: number;
  kubeApiBurst: number;
  /** Milliseconds any API request but a watch may take. */
  kubeApiTimeoutMs: number;
  /** HTTP/2 to the API server (false: a pool of HTTP/1.1 keep-alive connections). */
  kubeApiHttp2: boolean;
  /** Defaults for hf:// and s3:// artifacts; spec.storage overrides them. */
  storage: StorageDefaults;
}

export const USAGE = `lota-operator: reconciles LotaAdaptation and TicketMerge (lota.dev/v1alpha1) into trainer Jobs.

  --namespaces <a,b>            namespaces to watch (env LOTA_WATCH_NAMESPACES; empty = all)
  --trainer-image <ref>         default trainer image (env LOTA_TRAINER_IMAGE)
  --metrics-port <n>            /metrics port (env LOTA_METRICS_PORT, default 8080; 0 disables)
  --health-port <n>             /healthz and /readyz port (env LOTA_HEALTH_PORT, default 8081; 0 disables)
  --leader-elect[=false]        elect a leader on a Lease (env LOTA_LEADER_ELECT, default true)
  --lease-namespace <ns>        namespace of the Lease (env POD_NAMESPACE, default lota-system)
  --lease-name <name>           name of the Lease (default lota-operator)
  --max-concurrent-reconciles <n>  concurrent reconciles per kind (env LOTA_MAX_CONCURRENT_RECONCILES, default 8;
                                   --workers and LOTA_WORKERS are older names)
  --kube-api-qps <n>            client-side limit of API requests per second (env LOTA_KUBE_API_QPS, default 200;
                                0 = no limit; leader election is never limited)
  --kube-api-burst <n>          API requests allowed at once after a quiet period (env LOTA_KUBE_API_BURST, default 400)
  --kube-api-timeout <s>        seconds an API request (not a watch) may take (env LOTA_KUBE_API_TIMEOUT, default 5;
                                keep it well below the leader election's 10 s renew deadline)
  --kube-api-http2[=false]      one multiplexed HTTP/2 connection to the API server (default true); false: a pool
                                of HTTP/1.1 keep-alive connections
  --kubeconfig <path>           kubeconfig (env KUBECONFIG; default: in-cluster, then ~/.kube/config)
  --log-level <level>           pino level (env LOTA_LOG_LEVEL, default info)
  --progress-interval <s>       seconds between reads of a trainer's /progress (default 10)
  --hub-endpoint <url>          Hugging Face Hub (or mirror) for hf:// URIs (env LOTA_HUB_ENDPOINT; default huggingface.co)
  --s3-endpoint <url>           S3-compatible endpoint for s3:// URIs (env LOTA_S3_ENDPOINT; default AWS)
  --s3-region <region>          S3 region (env LOTA_S3_REGION; default us-east-1)
  --s3-force-path-style <bool>  path-style S3 addressing (env LOTA_S3_FORCE_PATH_STYLE)
  --cache-claim <name>          PVC (in each resource's namespace) caching staged hf:// and s3:// inputs (env LOTA_CACHE_CLAIM)`;

function int(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name}: expected a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A non-negative number (seconds, or requests per second). */
function seconds(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new Error(`--${name}: expected a non-negative number, got ${JSON.stringify(value)}`);
  return n;
}

function bool(name: string, value: string): boolean {
  if (['true', '1', 'yes', ''].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new Error(`--${name}: expected true or false, got ${JSON.stringify(value)}`);
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      namespaces: { type: 'string' },
      'trainer-image': { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'leader-elect': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      workers: { type: 'string' },
      'max-concurrent-reconciles': { type: 'string' },
      'kube-api-qps': { type: 'string' },
      'kube-api-burst': { type: 'string' },
      'kube-api-timeout': { type: 'string' },
      'kube-api-http2': { type: 'string' },
      kubeconfig: { type: 'string' },
      'log-level': { type: 'string' },
      'progress-interval': { type: 'string' },
      identity: { type: 'string' },
      'hub-endpoint': { type: 'string' },
      's3-endpoint': { type: 'string' },
      's3-region': { type: 'string' },
      's3-force-path-style': { type: 'string' },
      'cache-claim': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) throw new Error(USAGE);
  const trainerImage = values['trainer-image'] ?? env.LOTA_TRAINER_IMAGE;
  if (!trainerImage) throw new Error('--trainer-image (or LOTA_TRAINER_IMAGE) is required: the image trainer Jobs run');
  const namespaces = (values.namespaces ?? env.LOTA_WATCH_NAMESPACES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const workersFlag = values['max-concurrent-reconciles'] !== undefined ? 'max-concurrent-reconciles' : 'workers';
  const workers = int(
    workersFlag,
    values['max-concurrent-reconciles'] ??
      values.workers ??
      env.LOTA_MAX_CONCURRENT_RECONCILES ??
      env.LOTA_WORKERS ??
      '8',
  );
  if (workers < 1) throw new Error(`--${workersFlag}: must be at least 1`);
  const kubeApiBurst = int('kube-api-burst', values['kube-api-burst'] ?? env.LOTA_KUBE_API_BURST ?? '400');
  if (kubeApiBurst < 1) throw new Error('--kube-api-burst: must be at least 1');
  const timeout = seconds('kube-api-timeout', values['kube-api-timeout'] ?? env.LOTA_KUBE_API_TIMEOUT ?? '5');
  return {
    namespaces,
    trainerImage,
    metricsPort: int('metrics-port', values['metrics-port'] ?? env.LOTA_METRICS_PORT ?? '8080'),
    healthPort: int('health-port', values['health-port'] ?? env.LOTA_HEALTH_PORT ?? '8081'),
    leaderElect: bool('leader-elect', values['leader-elect'] ?? env.LOTA_LEADER_ELECT ?? 'true'),
    leaseNamespace: values['lease-namespace'] ?? env.POD_NAMESPACE ?? 'lota-system',
    leaseName: values['lease-name'] ?? 'lota-operator',
    identity:
      values.identity ?? `${env.POD_NAME ?? env.HOSTNAME ?? 'lota-operator'}_${crypto.randomUUID().slice(0, 8)}`,
    workers,
    ...((values.kubeconfig ?? env.KUBECONFIG) && { kubeconfig: values.kubeconfig ?? env.KUBECONFIG }),
    logLevel: values['log-level'] ?? env.LOTA_LOG_LEVEL ?? 'info',
    progressIntervalSeconds: int('progress-interval', values['progress-interval'] ?? '10'),
    kubeApiQps: seconds('kube-api-qps', values['kube-api-qps'] ?? env.LOTA_KUBE_API_QPS ?? '200'),
    kubeApiBurst,
    kubeApiTimeoutMs: Math.round(timeout * 1000),
    kubeApiHttp2: bool('kube-api-http2', values['kube-api-http2'] ?? env.LOTA_KUBE_API_HTTP2 ?? 'true'),
    storage: storageDefaults(values, env),
  };
}

function storageDefaults(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): StorageDefaults {
  const str = (flag: string, name: string) => {
    const v = values[flag] ?? env[name];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const url = (flag: string, name: string) => {
    const v = str(flag, name);
    if (v !== undefined && !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(v))
      throw new Error(`--${flag}: expected an http(s) URL, got ${JSON.stringify(v)}`);
    return v;
  };
  const hubEndpoint = url('hub-endpoint', 'LOTA_HUB_ENDPOINT');
  const s3Endpoint = url('s3-endpoint', 'LOTA_S3_ENDPOINT');
  const s3Region = str('s3-region', 'LOTA_S3_REGION');
  const pathStyle = str('s3-force-path-style', 'LOTA_S3_FORCE_PATH_STYLE');
  const cacheClaim = str('cache-claim', 'LOTA_CACHE_CLAIM');
  return {
    ...(hubEndpoint && { hubEndpoint }),
    ...(s3Endpoint && { s3Endpoint }),
    ...(s3Region && { s3Region }),
    ...(pathStyle !== undefined && { s3ForcePathStyle: bool('s3-force-path-style', pathStyle) }),
    ...(cacheClaim && { cacheClaim }),
  };
}
