// Where remote artifacts are and how to reach them, from the environment (the operator sets it from spec.storage and
// its flags; `lota run` passes the user's): HF_ENDPOINT/HF_TOKEN as huggingface_hub reads them, the AWS SDK's
// endpoint, region and credential chain (env keys, ~/.aws, web identity for IRSA), and the cache directory.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { STORAGE_ENV, TRAINER_ENV } from '@lota/api/trainer-contract';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface StorageConfig {
  hubEndpoint: string;
  hubToken?: string;
  s3: { endpoint?: string; region: string; forcePathStyle: boolean };
  cacheDir: string;
}

/** The cache of `lota run` and of a pod without a cache volume or scratch directory. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.LOTA_CACHE ?? join(homedir(), '.cache', 'lota'), 'storage');
}

export function storageConfigFromEnv(env: NodeJS.ProcessEnv = process.env): StorageConfig {
  const endpoint = env[STORAGE_ENV.s3Endpoint] ?? env.AWS_ENDPOINT_URL;
  const token = env[STORAGE_ENV.hubToken] ?? env.HUGGING_FACE_HUB_TOKEN;
  return {
    hubEndpoint: (env[STORAGE_ENV.hubEndpoint] ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, ''),
    ...(token ? { hubToken: token } : {}),
    s3: {
      ...(endpoint ? { endpoint } : {}),
      region: env[STORAGE_ENV.region] ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      forcePathStyle: ['true', '1'].includes(env[TRAINER_ENV.s3ForcePathStyle] ?? ''),
    },
    cacheDir: env[TRAINER_ENV.cacheDir] ?? defaultCacheDir(env),
  };
}
