/** The pinned hint map against the real kernel: shared between objects, read by the probes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { after } from 'node:test';
import { dirname } from 'node:path';
import { openHintMap, HINT_MAP_ACTION } from './hint-map.js';
import { createProbes } from './probes.js';
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
  const probes = createProbes({ families: ['fault'], faultMode: 'raw', hintMapPinPath: PIN, targets: { pids: [w.pid], cgroups: [] } });
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
