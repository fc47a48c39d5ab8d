import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcStat, parseProcStatBusyNs, parseSmaps, parseVmstat, smapsFieldInRange, vmstatDelta, readProcStat } from './procfs.js';

test('parseProcStat reads fields after a comm with spaces and parentheses', () => {
  const line = '4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 7 0 10 2 0 0 20 0 1 0 98765 1000 200 ...';
  const s = parseProcStat(line);
  assert.equal(s.pid, 4242);
  assert.equal(s.comm, 'my (odd) prog');
  assert.equal(s.state, 'S');
  assert.equal(s.minflt, 1234);
  assert.equal(s.majflt, 7);
  assert.equal(s.startTicks, 98765);
  assert.equal(s.cpuTicks, 12);
});

test('parseProcStat on this process agrees with itself over time (minflt only grows)', () => {
  const a = readProcStat(process.pid);
  Buffer.alloc(8 << 20).fill(1);
  const b = readProcStat(process.pid);
  assert.equal(a.pid, process.pid);
  assert.ok(b.minflt > a.minflt, `minflt ${a.minflt} -> ${b.minflt}`);
});

test('parseVmstat and vmstatDelta', () => {
  const a = parseVmstat('thp_fault_alloc 3\npswpout 10\n');
  const b = parseVmstat('thp_fault_alloc 7\npswpout 10\n');
  assert.deepEqual(vmstatDelta(a, b, ['thp_fault_alloc', 'pswpout', 'missing']), { thp_fault_alloc: 4, pswpout: 0, missing: 0 });
});

test('parseSmaps reads mappings and fields, smapsFieldInRange sums inside a range', () => {
  const text = [
    '7f0000000000-7f0000400000 rw-p 00000000 00:00 0 ',
    'Rss:                4096 kB',
    'AnonHugePages:      4096 kB',
    'Swap:                  0 kB',
    '7f0000400000-7f0000600000 r-xp 00001000 08:01 123 /usr/lib/libc.so.6',
    'Rss:                 100 kB',
    'AnonHugePages:         0 kB',
  ].join('\n');
  const e = parseSmaps(text);
  assert.equal(e.length, 2);
  assert.equal(e[1]!.path, '/usr/lib/libc.so.6');
  assert.equal(e[1]!.offset, 0x1000);
  assert.equal(smapsFieldInRange(e, 'AnonHugePages', 0x7f0000000000, 0x7f0000400000), 4096);
  assert.equal(smapsFieldInRange(e, 'Rss', 0x7f0000000000, 0x7f0000600000), 4196);
});

test('parseProcStatBusyNs: user+nice+system+irq+softirq+steal ticks, not idle or iowait; garbage is refused', () => {
  const text = 'cpu  100 2 30 5000 40 1 6 7 9 0\ncpu0 50 1 15 2500 20 0 3 3 4 0\nintr 1\n';
  assert.equal(parseProcStatBusyNs(text), ((100 + 2 + 30 + 1 + 6 + 7) * 1e9) / 100);
  assert.throws(() => parseProcStatBusyNs('intr 1\n'), /not a \/proc\/stat/);
  assert.throws(() => parseProcStatBusyNs('cpu  1 2 x 4 5 6 7 8\n'), /not a \/proc\/stat/);
});
