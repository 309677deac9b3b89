// Provenance of a run: the project's git commit (if it is a git checkout), installed package
// versions, Node version, machine, seeds. Recorded once per run in the store's provenance table.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, hostname, platform, release, arch, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
  } catch {
    return null; // not a git checkout, or git is not installed
  }
}

/**
 * A dependency's package.json as Node finds it: node_modules of the project's folder or any above (installed as a
 * package, they are hoisted).
 */
function installedPackageJson(name: string): string | null {
  for (let dir = PROJECT_ROOT; ; dir = dirname(dir)) {
    const p = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(p)) return p;
    if (dirname(dir) === dir) return null;
  }
}

/** Installed versions of the project's dependencies (as found in node_modules). */
export function packageVersions(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const out: Record<string, string> = {};
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    const p = installedPackageJson(name);
    out[name] = p !== null ? (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version : 'not installed';
  }
  return out;
}

export function collectProvenance(extra: Record<string, unknown>): Record<string, unknown> {
  const commit = git(['rev-parse', 'HEAD']);
  const dirty = commit === null ? null : (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  const c = cpus();
  return {
    git_commit: commit ?? 'none (not a git checkout)',
    git_dirty: dirty,
    node: process.version,
    packages: packageVersions(),
    machine: {
      hostname: hostname(),
      platform: platform(),
      release: release(),
      arch: arch(),
      cpus: c.length,
      cpu: c[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
    },
    ...extra,
  };
}
