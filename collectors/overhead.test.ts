/**
 * The overhead model and meter on injected readings (unit): the figures of
 * known counters, counter restarts, stats that cannot be enabled, bad
 * readings. The meter on the real kernel is in deploy/overhead.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_OVERHEAD_CONFIG,
  checkReading,
  formatOverhead,
  overheadStatus,
  createOverheadMeter,
  overheadFigures,
  overheadRecord,
  validateOverheadConfig,
  type OverheadReading,
  type OverheadRecord,
} from './overhead.js';

const reading = (atNs: number, runs: number, runNs: number, extra: Partial<OverheadReading> = {}): OverheadReading => ({
  atNs,
  programs: [
    { name: 'pl_page_fault_user', runCount: runs, runTimeNs: runNs },
    { name: 'pl_mm_compaction_begin', runCount: 3, runTimeNs: 900 },
  ],
  agentCpuNs: 0,
  hostFaults: 0,
  hostBusyNs: 0,
  ...extra,
});

test('overheadRecord and overheadFigures: ns per run, ns per fault, CPU shares and slowdown from known counters', () => {
  const a = reading(1e9, 1000, 50_000, { agentCpuNs: 5e6, hostFaults: 10_000, hostBusyNs: 3e9 });
  const b = reading(3e9, 201_000, 50_000 + 200_000 * 150, {
    programs: [
      { name: 'pl_page_fault_user', runCount: 201_000, runTimeNs: 50_000 + 200_000 * 150 },
      { name: 'pl_mm_compaction_begin', runCount: 5, runTimeNs: 1900 },
    ],
    agentCpuNs: 5e6 + 40e6,
    hostFaults: 10_000 + 250_000,
    hostBusyNs: 3e9 + 1e9 + 30e6,
  });
  const r = overheadRecord(a, b, 4, true);
  assert.deepEqual(r.overhead, { tsNs: 3e9, intervalNs: 2e9, cpus: 4, statsEnabled: 1, agentCpuNs: 40e6, hostFaults: 250_000, hostBusyNs: 1e9 + 30e6 });
  assert.deepEqual(r.programs, [
    { tsNs: 3e9, program: 'pl_page_fault_user', faultPath: 1, runCount: 200_000, runTimeNs: 30e6 },
    { tsNs: 3e9, program: 'pl_mm_compaction_begin', faultPath: 0, runCount: 2, runTimeNs: 1000 },
  ]);
  const f = overheadFigures(r);
  assert.equal(f.programs[0]!.nsPerRun, 150);
  assert.equal(f.programs[1]!.nsPerRun, 500);
  assert.equal(f.faultsPerSecond, 125_000);
  assert.equal(f.faultPathNsPerFault, 30e6 / 250_000);
  // The stated model: ns per fault × faults/s ÷ CPUs ÷ 1e9 = P / (T × C).
  assert.equal(f.faultPathCpuShare, 30e6 / (2e9 * 4));
  assert.ok(Math.abs(f.faultPathCpuShare - (f.faultPathNsPerFault! * f.faultsPerSecond) / 4 / 1e9) < 1e-15);
  assert.equal(f.faultPathSlowdown, 30e6 / 1e9);
  assert.equal(f.bpfCpuShare, (30e6 + 1000) / (2e9 * 4));
  assert.equal(f.agentCpuShare, 40e6 / (2e9 * 4));
});

test('a counter smaller than before restarted (program reloaded): its whole value is the growth, never negative', () => {
  const r = overheadRecord(reading(1, 5000, 9000), reading(2, 40, 800), 1, true);
  assert.equal(r.programs[0]!.runCount, 40);
  assert.equal(r.programs[0]!.runTimeNs, 800);
  const added = overheadRecord(reading(1, 5, 9, { programs: [] }), reading(2, 7, 70), 1, true);
  assert.equal(added.programs[0]!.runCount, 7, 'a program new in the interval counts from its load');
});

test('stats off: no program rows, statsEnabled 0, ns per fault and slowdown are null (not 0)', () => {
  const r = overheadRecord(reading(1e9, 0, 0, { hostFaults: 1 }), reading(2e9, 0, 0, { hostFaults: 900, hostBusyNs: 5e8 }), 2, false);
  assert.equal(r.overhead.statsEnabled, 0);
  assert.deepEqual(r.programs, []);
  const f = overheadFigures(r);
  assert.equal(f.statsEnabled, false);
  assert.equal(f.faultPathNsPerFault, null);
  assert.equal(f.faultPathSlowdown, null);
  assert.equal(f.faultsPerSecond, 899);
});

test('checkReading names the first bad field', () => {
  assert.throws(() => checkReading(reading(NaN, 1, 1)), /atNs is NaN/);
  assert.throws(() => checkReading(reading(1, -1, 1)), /programs\[0\]\.runCount is -1/);
  assert.throws(() => checkReading(reading(1, 1, Infinity)), /programs\[0\]\.runTimeNs is Infinity/);
  assert.throws(() => checkReading({ ...reading(1, 1, 1), programs: [{ name: '', runCount: 1, runTimeNs: 1 }] }), /programs\[0\]\.name/);
  assert.throws(() => checkReading({ ...reading(1, 1, 1), hostFaults: undefined as unknown as number }), /hostFaults is undefined/);
  assert.throws(() => overheadRecord(reading(5, 1, 1), reading(5, 1, 1), 1, true), /not after the previous/);
});

test('validateOverheadConfig names the key', () => {
  validateOverheadConfig({ ...DEFAULT_OVERHEAD_CONFIG, faultPathPrograms: [...DEFAULT_OVERHEAD_CONFIG.faultPathPrograms] });
  assert.throws(() => validateOverheadConfig({ ...DEFAULT_OVERHEAD_CONFIG, intervalMs: 5 }), /overhead\.intervalMs/);
  assert.throws(() => validateOverheadConfig({ intervalMs: 1000, faultPathPrograms: [''] }), /overhead\.faultPathPrograms/);
  assert.throws(() => createOverheadMeter(DEFAULT_OVERHEAD_CONFIG as never, { read: () => reading(1, 1, 1), enableStats: () => ({ close() {} }), cpus: 0 }), /cpus/);
});

/** A meter on a scripted source: each read() takes the next reading (an Error is thrown). */
function scripted(readings: (OverheadReading | Error)[], enable: () => { close(): void }, statsOnAnyway?: () => boolean) {
  const records: OverheadRecord[] = [];
  const logs: string[] = [];
  let i = 0;
  const meter = createOverheadMeter(
    { ...DEFAULT_OVERHEAD_CONFIG, intervalMs: 3_600_000 },
    {
      read: () => {
        const r = readings[i++];
        if (!r) throw new Error('script ran out');
        if (r instanceof Error) throw r;
        return r;
      },
      enableStats: enable,
      ...(statsOnAnyway ? { statsOnAnyway } : {}),
      cpus: 2,
      log: (l) => logs.push(l),
    },
  );
  return { meter, records, logs };
}

test('meter: stats enabled for its lifetime, intervals between good readings, bad readings counted and skipped, last interval on stop', () => {
  let open = 0;
  let closed = 0;
  const { meter, records, logs } = scripted(
    [reading(1e9, 10, 1000), reading(2e9, 110, 11_000), new Error('EBADF'), reading(3e9, 100, 1, { agentCpuNs: -5 }), reading(4e9, 310, 31_000), reading(5e9, 410, 41_000)],
    () => {
      open++;
      return { close: () => closed++ };
    },
  );
  meter.start((r) => records.push(r));
  assert.equal(open, 1);
  assert.equal(meter.stats().statsEnabled, true);
  assert.equal(meter.sampleNow()?.programs[0]!.runCount, 100);
  assert.equal(meter.sampleNow(), undefined, 'a throwing source');
  assert.equal(meter.sampleNow(), undefined, 'a reading with a negative field');
  // The interval runs from the last good reading: nothing is lost or counted twice.
  const r = meter.sampleNow()!;
  assert.equal(r.overhead.intervalNs, 2e9);
  assert.equal(r.programs[0]!.runCount, 200);
  meter.stop();
  assert.equal(closed, 1);
  const s = meter.stats();
  assert.equal(s.intervals, 3);
  assert.equal(s.readErrors, 2);
  assert.match(s.lastError!, /agentCpuNs is -5/);
  assert.equal(s.totals.programs.pl_page_fault_user!.runs, 400);
  assert.equal(s.totals.programs.pl_page_fault_user!.runTimeNs, 40_000);
  assert.equal(s.last?.programs[0]!.nsPerRun, 100);
  assert.equal(records.length, 3);
  assert.equal(logs.filter((l) => /reading failed/.test(l)).length, 2);
});

test('meter: stats that cannot be enabled are reported as off with the reason, and intervals still carry agent CPU and faults', () => {
  const { meter, records, logs } = scripted(
    [reading(1e9, 0, 0, { agentCpuNs: 1e6, hostFaults: 5 }), reading(2e9, 0, 0, { agentCpuNs: 3e6, hostFaults: 105 })],
    () => {
      throw new Error('bpf_enable_stats: Operation not permitted (EPERM)');
    },
  );
  meter.start((r) => records.push(r));
  meter.stop();
  const s = meter.stats();
  assert.equal(s.statsEnabled, false);
  assert.match(s.statsError!, /EPERM/);
  assert.equal(records.length, 1);
  assert.equal(records[0]!.overhead.statsEnabled, 0);
  assert.equal(records[0]!.overhead.agentCpuNs, 2e6);
  assert.equal(records[0]!.overhead.hostFaults, 100);
  assert.deepEqual(records[0]!.programs, []);
  assert.ok(logs.some((l) => /not reported/.test(l)));
});

test('meter: the sysctl on for everyone keeps run times even when enabling fails', () => {
  const { meter, records } = scripted(
    [reading(1e9, 0, 0), reading(2e9, 20, 2000)],
    () => {
      throw new Error('EINVAL');
    },
    () => true,
  );
  meter.start((r) => records.push(r));
  meter.stop();
  assert.equal(meter.stats().statsEnabled, true);
  assert.equal(records[0]!.programs[0]!.runCount, 20);
});

test('overheadStatus and formatOverhead: the status line says the figures, or that stats are off and why', () => {
  const on = scripted([reading(1e9, 0, 0, { hostFaults: 0, hostBusyNs: 0 }), reading(3e9, 20_000, 3e6, { agentCpuNs: 8e6, hostFaults: 20_000, hostBusyNs: 1e9 })], () => ({ close() {} }));
  on.meter.start(() => undefined);
  on.meter.sampleNow();
  const s = overheadStatus(on.meter.stats());
  // pl_mm_compaction_begin did not run in the interval: no ns per run to show.
  assert.equal(s.faultPathNsPerFault, 150);
  assert.equal(
    formatOverhead(s),
    'overhead: agent CPU 0.20% of host; fault path 150.0 ns/fault at 10000 faults/s = 0.0750% of CPU, est. slowdown 0.30%; pl_page_fault_user 150 ns/run',
  );
  const off = scripted([reading(1e9, 0, 0), reading(2e9, 0, 0)], () => {
    throw new Error('EPERM');
  });
  off.meter.start(() => undefined);
  off.meter.sampleNow();
  assert.match(formatOverhead(overheadStatus(off.meter.stats())), /BPF stats off \(EPERM\): program costs not measured/);
  assert.equal(overheadStatus(off.meter.stats()).faultPathCpuShare, null);
  assert.equal(formatOverhead(overheadStatus(createOverheadMeter(DEFAULT_OVERHEAD_CONFIG as never, { read: () => reading(1, 1, 1), enableStats: () => ({ close() {} }), cpus: 1 }).stats())), 'overhead: no interval yet');
});

test('meter: only the programs that ran in an interval go on the wire; the totals and the figures keep every program', () => {
  const { meter, records } = scripted([reading(1e9, 10, 100), reading(2e9, 10, 100)], () => ({ close() {} }));
  meter.start((r) => records.push(r));
  meter.stop();
  assert.deepEqual(records[0]!.programs, [], 'no program ran');
  assert.deepEqual(Object.keys(meter.stats().totals.programs).sort(), ['pl_mm_compaction_begin', 'pl_page_fault_user']);
  assert.equal(meter.stats().last!.programs.length, 2);
});
