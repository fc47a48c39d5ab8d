/**
 * The short chaos run (one fault of each kind) against the real 3-node
 * cluster, kernel and embedded ClickHouse: the ledger must hold, and nothing
 * the run started may be left running.
 *
 * Part of `npm test`; alone:
 *
 *   npm run chaos:short        # = node --enable-source-maps --test dist/bench/chaos-short.test.js
 *
 * PAGELOOP_CHAOS_REPORT=FILE keeps the run's JSON report there (the figures
 * in RELIABILITY.md).
 *
 * The session timeout of the processors and the sink is 10 s (not the
 * default 30 s) so that a kill costs 10 s, not 30; recovery from a kill is
 * that timeout by design (RELIABILITY.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { FAULT_KINDS } from './chaos/schedule.js';

const CHAOS = fileURLToPath(new URL('./chaos.js', import.meta.url));

test('chaos run, one fault of each kind: the ledger holds', { timeout: 15 * 60_000 }, () => {
  // spawnSync's timeout sends SIGTERM: the harness's cleanup path ends everything it started.
  const r = spawnSync(
    process.execPath,
    ['--enable-source-maps', CHAOS, '--seed', '1', '--minutes', '1.5', '--rate', '10000', '--session-timeout-ms', '10000', '--json'],
    { encoding: 'utf8', timeout: 14 * 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  assert.ok(r.stdout.trim().startsWith('{'), `no report: exit ${r.status} ${r.signal ?? ''}\n${r.stderr.slice(-4000)}`);
  if (process.env.PAGELOOP_CHAOS_REPORT) writeFileSync(process.env.PAGELOOP_CHAOS_REPORT, r.stdout);
  const report = JSON.parse(r.stdout) as { ok: boolean; faults: Record<string, { count: number }>; checks: Array<{ name: string; ok: boolean; detail: unknown }> };
  for (const kind of FAULT_KINDS) assert.ok((report.faults[kind]?.count ?? 0) >= 1, `fault ${kind} was not injected`);
  const failed = report.checks.filter((c) => !c.ok);
  assert.deepEqual(failed.map((c) => `${c.name}: ${JSON.stringify(c.detail).slice(0, 6000)}`), []);
  assert.ok(report.checks.some((c) => c.name.startsWith('no process of this run left')), 'the report has no leftover check');
  assert.equal(report.ok, true);
  assert.equal(r.status, 0, r.stderr.slice(-4000));
});
