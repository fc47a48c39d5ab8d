import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scopesFor, threadsOf } from './perf-scope.js';

const all = { mode: 'all' as const, pids: [], cgroupIds: [], cgroupPaths: [] };

test('every process: one scope, the per-CPU events', () => {
  assert.deepEqual(scopesFor(all), [{ kind: 'cpus' }]);
});

test('cgroups: one scope per cgroup path', () => {
  const t = { mode: 'cgroups' as const, pids: [], cgroupIds: [1n, 2n], cgroupPaths: ['/sys/fs/cgroup/a', '/sys/fs/cgroup/b'] };
  assert.deepEqual(scopesFor(t), [
    { kind: 'cgroup', path: '/sys/fs/cgroup/a' },
    { kind: 'cgroup', path: '/sys/fs/cgroup/b' },
  ]);
});

test('pids: one scope per thread of each process; a process that is gone has none', () => {
  const t = { mode: 'pids' as const, pids: [10, 20], cgroupIds: [], cgroupPaths: [] };
  const threads = (pid: number) => (pid === 10 ? [10, 11, 12] : []);
  assert.deepEqual(scopesFor(t, threads), [
    { kind: 'thread', pid: 10, tid: 10 },
    { kind: 'thread', pid: 10, tid: 11 },
    { kind: 'thread', pid: 10, tid: 12 },
  ]);
});

test('threadsOf: the main thread first, then by tid; [] for a missing process', () => {
  const root = mkdtempSync(join(tmpdir(), 'pageloop-proc-'));
  try {
    for (const tid of ['7', '12', '5', 'x']) mkdirSync(join(root, '7', 'task', tid), { recursive: true });
    assert.deepEqual(threadsOf(7, root), [7, 5, 12]);
    assert.deepEqual(threadsOf(8, root), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
