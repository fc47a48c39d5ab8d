import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { followedCounters, parsePsi, vmstatSample } from './samplers.js';
import { parseVmstat } from '../lib/procfs.js';

test('vmstatSample keeps the non-zero deltas of followed counters, sorted', () => {
  const a = followedCounters(parseVmstat('thp_fault_alloc 3\npswpout 10\nnr_free_pages 100\npgmajfault 1\n'));
  const b = followedCounters(parseVmstat('thp_fault_alloc 7\npswpout 10\nnr_free_pages 50\npgmajfault 4\n'));
  assert.deepEqual(vmstatSample(a, b, 2000, 1000), { tsNs: 2000, intervalNs: 1000, deltas: { pgmajfault: 3, thp_fault_alloc: 4 } });
});

test('parsePsi reads some and full lines', () => {
  const s = parsePsi('some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=678\n', 5);
  assert.equal(s.someAvg10, 1.5);
  assert.equal(s.someTotalUs, 12345);
  assert.equal(s.fullAvg10, 0.1);
  assert.equal(s.fullTotalUs, 678);
});

test('parsePsi reads this host\'s /proc/pressure/memory', () => {
  const s = parsePsi(readFileSync('/proc/pressure/memory', 'utf8'), 1);
  assert.ok(s.someTotalUs >= s.fullTotalUs, 'time with some tasks stalled includes time with all stalled');
});
