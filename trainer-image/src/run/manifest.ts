// Reading `lota run` manifests: one or more YAML documents of LotaAdaptation / TicketMerge, admitted exactly as the
// API server would (schema, defaults, CEL rules). Convenience for local runs only: `file:relative/path` (no //) is
// resolved against the manifest's directory, so examples work from any checkout location.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { admitObject, type LotaAdaptation, resolveRelativeFileUris, type TicketMerge } from '@lota/api';
import { parseAllDocuments } from 'yaml';
import { InvalidSpecError } from '../errors.ts';

export type Resource = LotaAdaptation | TicketMerge;

export async function readManifest(path: string): Promise<Resource[]> {
  const text = await readFile(path, 'utf8').catch((error: Error) => {
    throw new InvalidSpecError(`${path}: cannot read the manifest (${error.message})`);
  });
  const docs = parseAllDocuments(text);
  const resources: Resource[] = [];
  const names = new Set<string>();
  for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (doc.errors.length > 0) throw new InvalidSpecError(`${path}: document ${i + 1}: ${doc.errors[0]?.message}`);
    const raw = doc.toJS() as unknown;
    if (raw === null || raw === undefined) continue;
    let admitted: Resource;
    try {
      admitted = admitObject(resolveRelativeFileUris(raw, dirname(resolve(path))));
    } catch (error) {
      throw new InvalidSpecError(`${path}: document ${i + 1}: ${(error as Error).message}`);
    }
    const key = `${admitted.kind}/${admitted.metadata.name}`;
    if (names.has(key)) throw new InvalidSpecError(`${path}: ${key} appears twice`);
    names.add(key);
    resources.push(admitted);
  }
  if (resources.length === 0) throw new InvalidSpecError(`${path}: no LotaAdaptation or TicketMerge in the manifest`);
  return resources;
}
