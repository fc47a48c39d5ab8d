import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksFor, type HostFacts } from './checks.js';

/** A host with every feature present, as literal facts; tests change one field. */
const GOOD: HostFacts = {
  kernel: { release: '6.8.0', major: 6, minor: 8, patch: 0 },
  uid: 0,
  capEff: '000001ffffffffff',
  btfBytes: 5 * 1024 * 1024,
  tracefs: '/sys/kernel/tracing',
  tracefsMount: '/sys/kernel/tracing',
  tracepoints: [],
  bpfStatsPresent: true,
  bpfJitEnabled: 1,
  perfEventParanoid: 2,
  softwarePmu: true,
  bpffs: '/sys/fs/bpf',
  thp: { enabled: 'madvise', defrag: 'madvise', shmemEnabled: 'never', pmdSizeKb: 2048, sizes: [{ sizeKb: 64, enabled: 'inherit', effective: 'madvise', shmemEnabled: 'never' }], khugepaged: { pages_to_scan: 4096 } },
  damon: { interface: 'sysfs', operations: ['vaddr', 'paddr'], operationsSource: 'sysfs', kdamonds: [], aggregatedTracepoint: true },
  swaps: [{ path: '/dev/zram0', type: 'partition', sizeKb: 1048572, usedKb: 0, priority: 100 }],
  zram: [{ name: 'zram0', disksizeBytes: 1073741824, compAlgorithm: 'lz4', swap: true }],
  zramControl: true,
  numaBalancing: 1,
  numaNodes: 1,
  psiMemory: { some: { avg10: 0, avg60: 0, avg300: 0, totalUs: 5 }, full: null },
  cgroup: { version: 'v2', unifiedMount: '/sys/fs/cgroup', v1Controllers: [], v2Controllers: ['cpu', 'memory'] },
};

const byId = (h: HostFacts) => new Map(checksFor(h).map((c) => [c.id, c]));

test('checksFor: a fully equipped host is all ok, with no fixes', () => {
  const checks = checksFor(GOOD);
  assert.deepEqual(checks.filter((c) => c.status !== 'ok').map((c) => c.id), []);
  assert.ok(checks.every((c) => c.fix === undefined));
  assert.match(byId(GOOD).get('mthp')!.detail, /^64kB: inherit \(madvise\)$/);
});

test('checksFor: CAP_BPF + CAP_PERFMON suffice; without CAP_SYS_NICE/PTRACE only the feedback check warns', () => {
  const lean = byId({ ...GOOD, uid: 1000, capEff: '000000c000000000' });
  assert.equal(lean.get('privileges')?.status, 'ok');
  assert.equal(lean.get('feedback-privileges')?.status, 'warn');
  assert.match(lean.get('feedback-privileges')!.fix!, /CAP_SYS_NICE and CAP_SYS_PTRACE/);
  const none = byId({ ...GOOD, uid: 1000, capEff: '0000000000000000' });
  assert.equal(none.get('privileges')?.status, 'missing');
});

test('checksFor: a hybrid cgroup layout with memory on v1 warns and points at the unified hierarchy', () => {
  const c = byId({ ...GOOD, cgroup: { version: 'hybrid', unifiedMount: '/sys/fs/cgroup/unified', v1Controllers: ['memory'], v2Controllers: [] } }).get('cgroup')!;
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /memory controller is on v1/);
  assert.match(c.fix!, /systemd\.unified_cgroup_hierarchy=1/);
});

test('checksFor: a 5.15 kernel warns that MADV_COLLAPSE is missing; no swap suggests the idle zram device', () => {
  const h = byId({ ...GOOD, kernel: { release: '5.15.0', major: 5, minor: 15, patch: 0 }, swaps: [], zram: [{ name: 'zram1', disksizeBytes: 0, compAlgorithm: null, swap: false }] });
  assert.equal(h.get('kernel')?.status, 'warn');
  assert.match(h.get('kernel')!.detail, /no MADV_COLLAPSE \(needs 6\.1\)/);
  assert.equal(h.get('swap')?.status, 'warn');
  assert.match(h.get('swap')!.fix!, /\/sys\/block\/zram1\/disksize/);
});
