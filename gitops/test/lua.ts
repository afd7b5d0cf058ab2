// Runs the GitOps health judges on resource objects: an Argo CD health script (Lua) the way Argo CD does — the
// resource is the global `obj`, the script returns {status, message} — in Debian's Lua 5.4 and in gopher-lua
// (Argo CD's own interpreter, gitops/tools/argohealth); and kstatus (Flux's library, gitops/tools/kstatus).
// scripts/setup-helm.sh installs or builds all three.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from '../../scripts/toolchain.ts';
import { renderHealth } from '../argocd/render-cm-patch.ts';

export interface Health {
  status: string;
  message: string;
}

/** A Lua literal for a JSON value; JSON null becomes nil (an absent field), as Argo CD's conversion does. */
export function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot pass ${value} to Lua: JSON has no such number`);
    return Number.isInteger(value) ? String(value) : value.toPrecision(17);
  }
  if (typeof value === 'string') return luaString(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  if (typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `[${luaString(k)}] = ${luaLiteral(v)}`);
    return `{${fields.join(', ')}}`;
  }
  throw new Error(`cannot pass a ${typeof value} to Lua`);
}

function luaString(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (c === '"' || c === '\\') out += `\\${c}`;
    else if (byte < 0x20 || byte >= 0x7f) out += `\\${byte.toString().padStart(3, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

/** Runs `script` (a path) on `obj`; rejects a script that errors or returns no status. */
export function runHealth(lua: string, script: string, obj: unknown): Health {
  const dir = mkdtempSync(join(tmpdir(), 'lota-health-'));
  try {
    const runner = join(dir, 'run.lua');
    writeFileSync(
      runner,
      [
        `obj = ${luaLiteral(obj)}`,
        `local hs = dofile(${luaString(script)})`,
        'assert(type(hs) == "table" and type(hs.status) == "string", "the health script returned no status")',
        'io.write(hs.status, "\\n", hs.message or "")',
      ].join('\n'),
    );
    const out = execFileSync(lua, [runner], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const nl = out.indexOf('\n');
    return { status: out.slice(0, nl), message: out.slice(nl + 1) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A file holding the health script of a kind as argocd-cm carries it; named by its content's hash in the temporary
 * directory, so concurrent test files share it and no stale copy is ever read.
 */
export function healthScript(kind: string): string {
  const lua = renderHealth(kind);
  const hash = createHash('sha256').update(lua).digest('hex').slice(0, 16);
  const path = join(tmpdir(), `lota-health-${kind}-${hash}.lua`);
  if (!existsSync(path)) {
    const partial = `${path}.${process.pid}`;
    writeFileSync(partial, lua);
    renameSync(partial, path);
  }
  return path;
}

/** Runs the script in gopher-lua (gitops/tools/argohealth), the interpreter Argo CD embeds; one result per object. */
export function runArgoHealth(script: string, objects: unknown[]): Health[] {
  const input = `${objects.map((obj) => JSON.stringify({ script, obj })).join('\n')}\n`;
  const out = execFileSync(tool('LOTA_ARGOHEALTH'), { input, encoding: 'utf8' }).trim().split('\n');
  return out.map((line) => {
    const r = JSON.parse(line) as { status?: string; message?: string; error?: string };
    if (r.error) throw new Error(`gopher-lua: ${r.error}`);
    return { status: r.status ?? '', message: r.message ?? '' };
  });
}

/** kstatus's verdict (InProgress, Current, Failed, ...) for each object, or the error it raised. */
export function runKstatus(objects: unknown[]): string[] {
  const input = `${objects.map((o) => JSON.stringify(o)).join('\n')}\n`;
  const out = execFileSync(tool('LOTA_KSTATUS'), { input, encoding: 'utf8' }).trim().split('\n');
  return out.map((line) => {
    const r = JSON.parse(line) as { status: string; error?: string };
    return r.error ?? r.status;
  });
}
