import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountinfo } from './host.js';
import { cgroupLayout, mthpSizesKb, parseDamonOperations, parsePsi, parseSwaps } from './memory-probe.js';

test('parseSwaps reads rows after the header and unescapes paths', () => {
  const text = [
    'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority',
    '/dev/zram0                              partition\t1048572\t\t2048\t\t100',
    '/var/my\\040swap                         file\t\t524284\t\t0\t\t-2',
    '',
  ].join('\n');
  assert.deepEqual(parseSwaps(text), [
    { path: '/dev/zram0', type: 'partition', sizeKb: 1048572, usedKb: 2048, priority: 100 },
    { path: '/var/my swap', type: 'file', sizeKb: 524284, usedKb: 0, priority: -2 },
  ]);
  assert.deepEqual(parseSwaps('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n'), []);
});

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:39 / /sys/fs/bpf rw,relatime - bpf bpf rw
43 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs nodev rw
`;

test('cgroupLayout tells v1, v2, hybrid and none apart', () => {
  assert.deepEqual(cgroupLayout(parseMountinfo(HYBRID)), {
    version: 'hybrid',
    unifiedMount: '/sys/fs/cgroup/unified',
    v1Controllers: ['cpu', 'memory'],
  });
  const v2 = cgroupLayout(parseMountinfo('29 1 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n'));
  assert.deepEqual(v2, { version: 'v2', unifiedMount: '/sys/fs/cgroup', v1Controllers: [] });
  const v1 = cgroupLayout(parseMountinfo('32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n'));
  assert.deepEqual(v1, { version: 'v1', unifiedMount: null, v1Controllers: ['cpu', 'cpuacct'] });
  assert.equal(cgroupLayout([]).version, 'none');
});

test('parsePsi reads some and full lines', () => {
  const psi = parsePsi('some avg10=2.28 avg60=2.19 avg300=1.15 total=10315207\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
  assert.deepEqual(psi, {
    some: { avg10: 2.28, avg60: 2.19, avg300: 1.15, totalUs: 10315207 },
    full: { avg10: 0, avg60: 0, avg300: 0, totalUs: 0 },
  });
  assert.equal(parsePsi('some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n')?.full, null);
  assert.equal(parsePsi(''), null);
});

test('parseDamonOperations and mthpSizesKb', () => {
  assert.deepEqual(parseDamonOperations('vaddr\nfvaddr\npaddr\n'), ['vaddr', 'fvaddr', 'paddr']);
  assert.deepEqual(parseDamonOperations('paddr\n'), ['paddr']);
  assert.deepEqual(mthpSizesKb(['enabled', 'hugepages-2048kB', 'hugepages-64kB', 'khugepaged', 'hugepages-8kB']), [8, 64, 2048]);
});
