// Runs an Argo CD resource health script (Lua) the way Argo CD does: the resource is the global `obj`, and the
// script returns a table {status, message}. Uses the Debian Lua interpreter (scripts/setup-helm.sh installs it).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
