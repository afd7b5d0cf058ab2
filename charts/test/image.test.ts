// The operator image's Dockerfile, without a container engine: hadolint (every rule, OCI labels required), and a
// static check that what the image copies is enough to run the operator (every import of its sources resolves to
// a copied file, a Node built-in or a production dependency of the two installed workspaces).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tool } from '../../scripts/toolchain.ts';
import { REPO_ROOT } from './helm.ts';

const run = promisify(execFile);
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

/** Sources the runtime stage copies from the build context (not `--from` another stage). */
const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => {
  const parts = (m[1] ?? '').trim().split(/\s+/);
  return parts.slice(0, -1);
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('Dockerfile', () => {
  it('passes hadolint with every rule and the OCI labels required', async () => {
    const labels = [
      'title:text',
      'description:text',
      'version:text',
      'revision:text',
      'licenses:spdx',
      'vendor:text',
      'base.name:text',
    ];
    const args = [
      '--failure-threshold',
      'style',
      '--strict-labels',
      ...labels.flatMap((l) => ['--require-label', `org.opencontainers.image.${l}`]),
    ];
    const r = await run(tool('LOTA_HADOLINT'), [...args, 'Dockerfile'], { cwd: REPO_ROOT }).catch(
      (err: { stdout?: string; message: string }) => {
        throw new Error(`hadolint: ${err.stdout || err.message}`);
      },
    );
    expect(r.stdout).toBe('');
  });

  it('runs as a numeric non-root user from a pinned Node 24 slim base', () => {
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=24\.\d+\.\d+$/m);
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(bases).toHaveLength(2);
    for (const base of bases) expect(base).toMatch(/^node:\$\{NODE_VERSION\}-trixie-slim$/);
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
  });

  it('copies every file the operator imports at run time', () => {
    for (const src of copied) expect(existsSync(join(REPO_ROOT, src)), `COPY ${src}`).toBe(true);
    const entry = /^ENTRYPOINT \["node", (?:"--[^"]+", )*"([^"]+)"\]$/m.exec(dockerfile)?.[1];
    expect(entry && existsSync(join(REPO_ROOT, entry)), `ENTRYPOINT ${entry}`).toBe(true);

    const inImage = (path: string) =>
      copied.some((c) => path === join(REPO_ROOT, c) || path.startsWith(join(REPO_ROOT, c, '/')));
    const production = new Set(
      ['api', 'operator'].flatMap((w) => {
        const pkg = JSON.parse(readFileSync(join(REPO_ROOT, w, 'package.json'), 'utf8')) as {
          dependencies?: Record<string, string>;
        };
        return Object.keys(pkg.dependencies ?? {});
      }),
    );
    production.add('@lota/api');
    const problems: string[] = [];
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /^\s*(?:import|export)(?!\s+type\b)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm,
      )) {
        const spec = m[1] ?? m[2] ?? '';
        const where = relative(REPO_ROOT, file);
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (!inImage(target)) problems.push(`${where} imports ${spec}, which the image does not copy`);
          else if (existsSync(target)) visit(target);
          else problems.push(`${where} imports ${spec}, which does not exist`);
        } else if (spec.startsWith('node:') || builtinModules.includes(spec)) {
          // a Node built-in
        } else if (spec.startsWith('@lota/api')) {
          const sub = spec === '@lota/api' ? 'index' : spec.slice('@lota/api/'.length);
          visit(join(REPO_ROOT, 'api/src', `${sub}.ts`));
        } else {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);
          if (!production.has(name))
            problems.push(`${where} imports ${spec}, not a production dependency of api or operator`);
        }
      }
    };
    for (const f of files(join(REPO_ROOT, 'operator/src')).filter((f) => f.endsWith('.ts'))) visit(f);
    expect(problems).toEqual([]);
  });
});
