/**
 * `npm ci` accepts package-lock.json: the npm convention for users' CI, and
 * what scripts/setup.sh runs. Fails when package.json and the lock file
 * drift apart (a dependency added without its lock entry, or chdb's
 * hand-written platform entries lost by an `npm install` on another system).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

it('npm ci accepts the lock file (dry run in a copy of package.json and package-lock.json)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-lock-'));
  try {
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    const r = spawnSync('npm', ['ci', '--dry-run', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `npm ci refused the lock file:\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("every optional dependency of chdb has a lock entry (the platform packages npm ci checks for)", () => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { optionalDependencies?: Record<string, string> }> };
  const optional = Object.keys(lock.packages['node_modules/chdb']?.optionalDependencies ?? {});
  assert.ok(optional.length >= 4, `chdb lists ${optional.length} platform packages in the lock file`);
  assert.deepEqual(optional.filter((name) => !(`node_modules/${name}` in lock.packages)), []);
});
