/**
 * The applied log on its own (a file), then with the enforcer across a
 * restart, against the real kernel and a real pinned hint map.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HINT_MAP_ACTION, openHintMap, type HintMap } from '../bpf/hint-map.js';
import { startMemtouch } from '../bench/workloads/memtouch.js';
import { openAppliedLog } from './applied-log.js';
import { createEnforcer } from './enforcer.js';
import { feedbackConfig } from './config.js';
import { identityOf, makeHint } from '../test/feedback.js';

const PIN = `/sys/fs/bpf/pageloop-test-applied-${process.pid}/pl_hints`;
const HOST = `applied-${process.pid}`;
const MiB = 1 << 20;
let map: HintMap;
let dir: string;

before(() => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  map = openHintMap(PIN);
  dir = mkdtempSync(join(tmpdir(), 'pageloop-applied-'));
});
after(() => {
  map.close();
  rmSync(dirname(PIN), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

test('the applied log keeps adds and deletes across a reopen, root-only, skipping a torn line', () => {
  const path = join(dir, 'state', 'applied-a.log');
  const log = openAppliedLog(path);
  log.add('h1');
  log.add('h2');
  log.add('with "quotes"\nand a newline');
  log.delete('h1');
  log.close();
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
  appendFileSync(path, '+"torn'); // a write cut short
  const again = openAppliedLog(path);
  assert.equal(again.skippedLines, 1);
  assert.deepEqual([again.has('h1'), again.has('h2'), again.has('with "quotes"\nand a newline'), again.size], [false, true, true, 2]);
  // Opening rewrote it with the set: the torn line is gone.
  assert.equal(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 2);
  again.retain(new Set(['h2', 'never added']));
  assert.deepEqual([again.has('h2'), again.has('with "quotes"\nand a newline'), again.size], [true, false, 1]);
  again.close();
  assert.equal(openAppliedLog(path).size, 1);
});

test('the applied log stays as small as its set: adds and deletes are compacted', () => {
  const path = join(dir, 'applied-b.log');
  const log = openAppliedLog(path);
  for (let i = 0; i < 5000; i++) {
    log.add(`h${i}`);
    if (i % 10 !== 0) log.delete(`h${i}`);
  }
  assert.equal(log.size, 500);
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).length;
  assert.ok(lines <= 4 * 500 + 1000 + 2, `${lines} lines for 500 ids`);
  log.close();
  assert.equal(openAppliedLog(path).size, 500);
});

test('a refused file is a clear error: a directory where the log should be', () => {
  const path = join(dir, 'is-a-dir');
  mkdirSync(path);
  assert.throws(() => openAppliedLog(path), /EISDIR|illegal operation on a directory/);
});

test('after a restart, a replayed hint whose map entry a later hint overwrote is not acted on again (it was, without the log)', async () => {
  const w = await startMemtouch();
  try {
    const start = await w.map('r', 4, 'nohugepage');
    await w.send('touch r');
    const config = feedbackConfig({ host: HOST, hintMapPinPath: PIN, allow: { comms: ['memtouch'], executables: [], cgroups: [] } });
    const path = join(dir, 'applied-restart.log');
    const hint = makeHint(identityOf(HOST, w.pid), start, 4 * MiB, 'mark_cold');

    const run1 = openAppliedLog(path);
    const first = createEnforcer(config, { hintMap: map, applied: run1 }).enforce(hint)!;
    assert.equal(first.outcome, 'applied', first.reason);
    run1.close(); // the agent dies

    // A later hint of the same regions (another action) overwrote the entries: the map no longer tells.
    for (const e of map.entries().filter((x) => x.pid === w.pid)) map.set({ ...e, action: HINT_MAP_ACTION.keep_base_pages });

    const run2 = openAppliedLog(path);
    assert.equal(createEnforcer(config, { hintMap: map, applied: run2 }).enforce(hint, true), undefined, 'acted on before the restart: nothing to do');
    run2.close();
    const withoutLog = createEnforcer(config, { hintMap: map }).enforce(hint, true);
    assert.equal(withoutLog?.outcome, 'applied', 'without the log the replayed hint is applied a second time');
  } finally {
    await w.exit();
  }
});

test('a reclaim_cgroup hint is reclaimed once across a restart (no map entry remembers it)', () => {
  const root = mkdtempSync(join(tmpdir(), 'pageloop-cgroup-'));
  try {
    mkdirSync(join(root, 'batch'), { recursive: true });
    writeFileSync(join(root, 'cgroup.controllers'), 'memory\n');
    writeFileSync(join(root, 'batch', 'memory.reclaim'), '');
    const config = feedbackConfig({ host: HOST, hintMapPinPath: PIN, cgroupRoot: root, allow: { cgroups: ['/batch'], comms: [], executables: [] } });
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const hint = makeHint({ host: HOST, bootId: boot, pid: 0, startNs: 0 }, 0, 0, 'reclaim_cgroup', { region: undefined, cgroup: '/batch', bytes: MiB });
    const path = join(dir, 'applied-cgroup.log');
    const run1 = openAppliedLog(path);
    assert.equal(createEnforcer(config, { hintMap: map, applied: run1 }).enforce(hint)?.outcome, 'applied');
    run1.close();
    writeFileSync(join(root, 'batch', 'memory.reclaim'), '');
    const run2 = openAppliedLog(path);
    assert.equal(createEnforcer(config, { hintMap: map, applied: run2 }).enforce(hint, true), undefined);
    run2.close();
    assert.equal(readFileSync(join(root, 'batch', 'memory.reclaim'), 'utf8'), '', 'not written again');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
