// The tfjs backends the numerics tests run on, so one test body checks every backend CI has (see the "Tests on
// every backend" section of docs/native-backend.md for which test runs where).
//
// - `tensorflow` (native) is listed when scripts/setup.sh recorded a built binding (LOTA_TFJS_NODE in .lota/env) or
//   the binding is present: a binding that was built but does not load then FAILS the tests, never skips them.
// - `wasm` is always listed (it ships with the npm packages).
// - `cpu` (pure JS, ~80× slower than native) is listed for tiny work only: pass `{ slow: false }` to leave it out.
import { existsSync } from 'node:fs';
import { tool } from '../../../scripts/toolchain.ts';
import { nativeBindingPath } from '../../src/backend/native.ts';
import { type BackendName, selectBackend } from '../../src/backend/select.ts';

function nativeBuilt(): boolean {
  try {
    if (tool('LOTA_TFJS_NODE') !== '') return true;
  } catch {
    // No .lota/env entry: fall through to whether a binding is present at all.
  }
  const binding = nativeBindingPath();
  return binding !== undefined && existsSync(binding);
}

/** Backends to run a numerics test on, fastest first. `slow: false` drops the pure-JS `cpu` backend. */
export function testBackends(options: { slow?: boolean } = {}): BackendName[] {
  const names: BackendName[] = [];
  if (nativeBuilt()) names.push('tensorflow');
  names.push('wasm');
  if (options.slow ?? true) names.push('cpu');
  return names;
}

/** Activates `name`; throws (failing the test) when it cannot start, with the loader's reason for native. */
export async function useBackend(name: BackendName): Promise<void> {
  await selectBackend(name, () => {});
}
