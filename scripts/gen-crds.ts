// Writes crds/*.yaml and the field reference in docs/api.md from the TypeBox schemas in api/src/schema (the one source of truth).
// api/test/crds.test.ts fails when the committed files differ from what this writes.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCrds } from '../api/src/crds.ts';
import { withReference } from '../api/src/reference.ts';

const dir = join(import.meta.dirname, '..', 'crds');
mkdirSync(dir, { recursive: true });
for (const [file, text] of renderCrds()) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote crds/${file}`);
}

const doc = join(import.meta.dirname, '..', 'docs', 'api.md');
writeFileSync(doc, withReference(readFileSync(doc, 'utf8')));
console.log('wrote the field reference in docs/api.md');
