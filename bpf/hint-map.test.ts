/** The pinned hint map against the real kernel: shared between objects, read by the probes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { after } from 'node:test';
import { dirname } from 'node:path';
import { openHintMap, HINT_MAP_ACTION, layoutMismatches } from './hint-map.js';
import { loadAddon } from './native.js';
import { PageloopError } from '../lib/errors.js';
import { DEFAULT_PROBES_CONFIG, createProbes } from './probes.js';
import type { ProbeEvent } from './events.js';
import { startMemtouch } from '../bench/workloads/memtouch.js';

const PIN = `/sys/fs/bpf/pageloop-test-${process.pid}/pl_hints`;
after(() => rmSync(dirname(PIN), { recursive: true, force: true }));

test('the hint map is pinned once and shared: what one handle writes, another reads', () => {
  rmSync(PIN, { force: true });
  const a = openHintMap(PIN);
  const b = openHintMap(PIN);
  try {
    assert.ok(existsSync(PIN));
    a.set({ pid: 42, region: 7, startNs: 123, action: HINT_MAP_ACTION.promote, pageSizeKb: 2048, updatedNs: 9 });
    assert.deepEqual(b.get(42, 7), { pid: 42, region: 7, startNs: 123, action: 1, pageSizeKb: 2048, updatedNs: 9 });
    assert.equal(b.entries().length, 1);
    assert.equal(b.delete(42, 7), true);
    assert.equal(a.get(42, 7), undefined);
  } finally {
    a.close();
    b.close();
    rmSync(PIN, { force: true });
  }
});

test('the probes tag events with the hint in force for their region, never one for a reused pid', async () => {
  rmSync(PIN, { force: true });
  const w = await startMemtouch();
  const events: ProbeEvent[] = [];
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, families: ['fault'], faultMode: 'raw', hintMapPinPath: PIN, targets: { pids: [w.pid], cgroups: [] } }, { addon: loadAddon() });
  const hints = openHintMap(PIN);
  try {
    probes.start({ onEvents: (e) => events.push(...e) });
    const base = await w.map('a', 4); // two 2 MiB regions
    hints.set({ pid: w.pid, region: base / 2 ** 21, startNs: 0, action: HINT_MAP_ACTION.mark_cold, pageSizeKb: 0, updatedNs: 0 });
    // A hint for the same pid but another process start (a reused pid) is not in force.
    hints.set({ pid: w.pid, region: base / 2 ** 21 + 1, startNs: 1, action: HINT_MAP_ACTION.promote, pageSizeKb: 2048, updatedNs: 0 });
    await w.send('touch a');
    probes.stop();
    const inFirst = events.filter((e) => e.type === 'fault' && e.address >= base && e.address < base + 2 ** 21);
    const inSecond = events.filter((e) => e.type === 'fault' && e.address >= base + 2 ** 21 && e.address < base + 2 ** 22);
    assert.equal(inFirst.length, 512);
    assert.ok(inFirst.every((e) => e.type === 'fault' && e.h.hint === HINT_MAP_ACTION.mark_cold));
    assert.equal(inSecond.length, 512);
    assert.ok(inSecond.every((e) => e.type === 'fault' && e.h.hint === 0));
  } finally {
    hints.close();
    probes.stop();
    await w.exit();
    rmSync(PIN, { force: true });
  }
});

test('the pin and its directory are root-only', () => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  const map = openHintMap(PIN);
  try {
    const pin = statSync(PIN);
    assert.equal(pin.uid, 0);
    assert.equal(pin.mode & 0o777, 0o600);
    assert.equal(statSync(dirname(PIN)).mode & 0o777, 0o700);
  } finally {
    map.close();
  }
});

test('a map someone else pinned with another layout is refused, named, and left alone', () => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  mkdirSync(dirname(PIN), { recursive: true });
  // A hash map of 4-byte keys and values where the hint map should be.
  execFileSync('bpftool', ['map', 'create', PIN, 'type', 'hash', 'key', '4', 'value', '4', 'entries', '16', 'name', 'pl_hints']);
  assert.throws(
    () => openHintMap(PIN),
    (err: unknown) => err instanceof PageloopError && err.code === 'hint-map-foreign' && !err.retriable && /keySize 4 \(expected 16\)/.test(err.message) && err.message.includes(PIN),
  );
  const left = loadAddon().pinnedMapInfo(PIN);
  assert.deepEqual([left.keySize, left.valueSize, left.maxEntries], [4, 4, 16]);
  rmSync(PIN);
});

test('a hint map pinned by another user is refused even with the right layout', () => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  openHintMap(PIN).close();
  chownSync(PIN, 65534, 65534);
  assert.throws(() => openHintMap(PIN), (err: unknown) => err instanceof PageloopError && err.code === 'hint-map-foreign' && /owner uid 65534/.test(err.message));
  rmSync(PIN);
});

test('layoutMismatches names each field that differs', () => {
  const expected = { type: 1, keySize: 16, valueSize: 24, maxEntries: 65536 };
  assert.deepEqual(layoutMismatches({ name: 'pl_hints', flags: 0, ...expected }, expected), []);
  assert.deepEqual(layoutMismatches({ name: 'x', flags: 0, type: 2, keySize: 16, valueSize: 8, maxEntries: 65536 }, expected), ['type 2 (expected 1)', 'valueSize 8 (expected 24)']);
});
