import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBtf } from '../../test/doctor-host.js';
import {
  CAP_BPF,
  CAP_PERFMON,
  CAP_SYS_ADMIN,
  TRACEPOINTS,
  btfHasName,
  btfStringSection,
  hasCap,
  kernelAtLeast,
  parseKernelRelease,
  parseProcStatus,
  tracepointStatus,
} from './bpf-probe.js';

test('parseProcStatus and hasCap read the effective uid and capability bits', () => {
  const root = parseProcStatus('Name:\tnode\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n');
  assert.ok(root);
  assert.equal(root.uid, 0);
  assert.ok(hasCap(root.capEff, CAP_SYS_ADMIN) && hasCap(root.capEff, CAP_BPF) && hasCap(root.capEff, CAP_PERFMON));
  // Only CAP_BPF (bit 39) and CAP_PERFMON (bit 38): 0xc0_0000_0000.
  const lean = parseProcStatus('Uid:\t1000\t1001\t1000\t1000\nCapEff:\t000000c000000000\n');
  assert.ok(lean);
  assert.equal(lean.uid, 1001);
  assert.ok(!hasCap(lean.capEff, CAP_SYS_ADMIN) && hasCap(lean.capEff, CAP_BPF) && hasCap(lean.capEff, CAP_PERFMON));
  assert.equal(parseProcStatus('Name:\tx\n'), null);
});

test('parseKernelRelease and kernelAtLeast', () => {
  const k = parseKernelRelease('6.18.44-fc-v595\n');
  assert.deepEqual(k, { release: '6.18.44-fc-v595', major: 6, minor: 18, patch: 44 });
  assert.ok(k && kernelAtLeast(k, 6, 1) && kernelAtLeast(k, 5, 10) && !kernelAtLeast(k, 6, 19) && !kernelAtLeast(k, 7, 0));
  assert.deepEqual(parseKernelRelease('6.1-rc2'), { release: '6.1-rc2', major: 6, minor: 1, patch: 0 });
  assert.equal(parseKernelRelease('garbage'), null);
});

test('btfStringSection validates the header and btfHasName matches whole names only', () => {
  const strings = btfStringSection(fakeBtf('\0int\0btf_trace_mm_compaction_begin\0btf_trace_rss_stat\0'));
  assert.ok(strings);
  assert.ok(btfHasName(strings, 'btf_trace_rss_stat'));
  assert.ok(btfHasName(strings, 'btf_trace_mm_compaction_begin'));
  assert.ok(!btfHasName(strings, 'btf_trace_mm_compaction'), 'a prefix is not a name');
  assert.ok(!btfHasName(strings, 'trace_rss_stat'), 'a suffix is not a name');
  assert.equal(btfStringSection(fakeBtf('\0int\0', 0x1234)), null);
  assert.equal(btfStringSection(new Uint8Array(8)), null);
  // str_len running past the end of the blob is not BTF either.
  const bad = Buffer.from(fakeBtf('\0int\0'));
  bad.writeUInt32LE(1000, 20);
  assert.equal(btfStringSection(bad), null);
});

test('tracepointStatus: BTF decides, tracefs only witnesses when BTF is unreadable', () => {
  const must = TRACEPOINTS.find((t) => t.mustHave)!;
  const optional = TRACEPOINTS.find((t) => !t.mustHave)!;
  assert.equal(tracepointStatus(must, true, null), 'ok');
  assert.equal(tracepointStatus(must, false, true), 'missing');
  assert.equal(tracepointStatus(must, null, true), 'warn');
  assert.equal(tracepointStatus(must, null, false), 'missing');
  assert.equal(tracepointStatus(optional, false, false), 'warn');
});
