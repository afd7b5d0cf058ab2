// Paths that scripts/setup.sh resolved (Python venv, control-plane binaries, ...), read from .lota/env.
// Tests call `tool('LOTA_PYTHON')`; a missing entry fails loudly instead of skipping.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const envFile = fileURLToPath(new URL('../.lota/env', import.meta.url));

export function tool(name: string): string {
  const fromEnv = process.env[name];
  if (fromEnv) return fromEnv;
  let text: string;
  try {
    text = readFileSync(envFile, 'utf8');
  } catch {
    throw new Error(`${envFile} is missing: run 'bash scripts/setup.sh' (npm test does it first)`);
  }
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq) === name) return line.slice(eq + 1);
  }
  throw new Error(`${name} is not set in ${envFile}: run 'bash scripts/setup.sh'`);
}
