/**
 * The short chaos run (one fault of each kind, ~2 minutes plus start-up
 * and drain) against the real broker, kernel and embedded ClickHouse: the
 * ledger must hold. Figures of longer runs go in RELIABILITY-chaos.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { FAULT_KINDS } from './chaos/schedule.js';

const CHAOS = fileURLToPath(new URL('./chaos.js', import.meta.url));

test('chaos run, one fault of each kind: the ledger holds', { timeout: 15 * 60_000 }, () => {
  const r = spawnSync(process.execPath, ['--enable-source-maps', CHAOS, '--seed', '1', '--minutes', '1.5', '--rate', '10000', '--json'], { encoding: 'utf8', timeout: 14 * 60_000 });
  assert.ok(r.stdout.trim().startsWith('{'), `no report: exit ${r.status}\n${r.stderr.slice(-4000)}`);
  const report = JSON.parse(r.stdout) as { ok: boolean; faults: Record<string, { count: number }>; checks: Array<{ name: string; ok: boolean; detail: unknown }> };
  for (const kind of FAULT_KINDS) assert.ok((report.faults[kind]?.count ?? 0) >= 1, `fault ${kind} was not injected`);
  for (const c of report.checks) assert.ok(c.ok, `${c.name}: ${JSON.stringify(c.detail)}`);
  assert.equal(report.ok, true);
  assert.equal(r.status, 0, r.stderr.slice(-4000));
});
