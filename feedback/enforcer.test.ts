/**
 * The enforcer on its own, against the real kernel and a real pinned hint
 * map: cgroup reclaim (a fake cgroup tree, and this host's real one, which
 * has no memory.reclaim), and the sweep of entries whose process is gone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HINT_MAP_ACTION, openHintMap, type HintMap } from '../bpf/hint-map.js';
import { startMemtouch } from '../bench/workloads/memtouch.js';
import { createEnforcer } from './enforcer.js';
import { feedbackConfig } from './config.js';
import { identityOf, makeHint } from '../test/feedback.js';

const PIN = `/sys/fs/bpf/pageloop-test-enforcer-${process.pid}/pl_hints`;
const HOST = `enforcer-${process.pid}`;
let map: HintMap;

before(() => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  map = openHintMap(PIN);
});
after(() => {
  map.close();
  rmSync(dirname(PIN), { recursive: true, force: true });
});

const reclaimHint = (cgroup: string, bytes: number) =>
  makeHint({ host: HOST, bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pid: 0, startNs: 0 }, 0, 0, 'reclaim_cgroup', {
    region: undefined,
    cgroup,
    bytes,
  });

test('reclaim_cgroup on a fake cgroup tree: allowed cgroups are reclaimed (memory.reclaim written), others refused, dry run writes nothing', () => {
  const root = mkdtempSync(join(tmpdir(), 'pageloop-cgroup-'));
  try {
    mkdirSync(join(root, 'batch', 'job-1'), { recursive: true });
    mkdirSync(join(root, 'web'), { recursive: true });
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
    writeFileSync(join(root, 'batch', 'job-1', 'memory.reclaim'), '');
    writeFileSync(join(root, 'web', 'memory.reclaim'), '');
    const config = feedbackConfig({ host: HOST, hintMapPinPath: PIN, cgroupRoot: root, allow: { cgroups: ['/batch'], comms: [], executables: [] } });
    const e = createEnforcer(config, { hintMap: map });
    const ok = e.enforce(reclaimHint('/batch/job-1', 32 << 20))!;
    assert.equal(ok.outcome, 'applied', ok.reason);
    assert.equal(ok.bytesAffected, 32 << 20);
    assert.equal(ok.cgroup, '/batch/job-1');
    assert.equal(readFileSync(join(root, 'batch', 'job-1', 'memory.reclaim'), 'utf8'), String(32 << 20));
    const web = e.enforce(reclaimHint('/web', 1 << 20))!;
    assert.deepEqual([web.outcome, web.reason], ['refused', 'cgroup /web is not on the allow-list']);
    assert.equal(readFileSync(join(root, 'web', 'memory.reclaim'), 'utf8'), '');
    const missing = e.enforce(reclaimHint('/batch', 1 << 20))!;
    assert.equal(missing.outcome, 'refused');
    assert.match(missing.reason, /memory.reclaim is unavailable for \/batch: the memory controller is not enabled/);

    writeFileSync(join(root, 'batch', 'job-1', 'memory.reclaim'), '');
    const dry = createEnforcer({ ...config, dryRun: true }, { hintMap: map }).enforce(reclaimHint('/batch/job-1', 1 << 20))!;
    assert.equal(dry.outcome, 'dry_run');
    assert.match(dry.reason, /^dry run: would write 1048576 to .*\/batch\/job-1\/memory.reclaim$/);
    assert.equal(readFileSync(join(root, 'batch', 'job-1', 'memory.reclaim'), 'utf8'), '');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("reclaim_cgroup on this host's real cgroup v2 tree: refused, with the reason (no memory controller on cgroup2 here)", () => {
  const e = createEnforcer(feedbackConfig({ host: HOST, hintMapPinPath: PIN, allow: { cgroups: ['/'], comms: [], executables: [] } }), { hintMap: map });
  const a = e.enforce(reclaimHint('/', 1 << 20))!;
  assert.equal(a.outcome, 'refused');
  assert.match(a.reason, /^memory.reclaim is unavailable for \/: the cgroup v2 hierarchy at \S+ has no memory controller/);
});

test('the sweep drops entries of processes that are gone and keeps the live ones', async () => {
  const w = await startMemtouch();
  const gone = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const live = identityOf(HOST, w.pid);
    const dead = identityOf(HOST, gone.pid!);
    gone.kill('SIGKILL');
    await new Promise((r) => gone.once('exit', r));
    const entry = (pid: number, startNs: number, region: number) => ({ pid, region, startNs, action: HINT_MAP_ACTION.mark_cold, pageSizeKb: 0, updatedNs: 1 });
    map.set(entry(live.pid, live.startNs, 1));
    map.set(entry(dead.pid, dead.startNs, 1));
    map.set(entry(live.pid, live.startNs + 5e9, 2)); // the live pid, but another process's start: a reused pid
    map.set(entry(live.pid, 0, 3)); // no identity: not the sweep's to judge
    const e = createEnforcer(feedbackConfig({ host: HOST, hintMapPinPath: PIN }), { hintMap: map });
    assert.equal(e.sweepGone(), 2);
    assert.deepEqual(
      map
        .entries()
        .filter((x) => x.pid === live.pid || x.pid === dead.pid)
        .map((x) => x.region)
        .sort(),
      [1, 3],
    );
    // A hint for the same process and an expired one.
    const h = makeHint(live, 0, 4096, 'mark_cold', { expiresNs: e.nowNs() - 1 });
    assert.equal(e.expired(h, e.nowNs()), true);
  } finally {
    await w.exit();
  }
});
