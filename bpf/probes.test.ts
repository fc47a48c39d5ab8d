/**
 * The probes against the real kernel: each family is caused by a small
 * workload and compared with the kernel's own counters for it.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createProbes, DEFAULT_PROBES_CONFIG, EXACT_PROBES_CONFIG, SAMPLED_PROBES_CONFIG, type ProbesConfig } from './probes.js';
import { loadAddon } from './native.js';
import type { ProbeEvent } from './events.js';
import { startMemtouch, type Memtouch } from '../bench/workloads/memtouch.js';
import { readProcStat, readSmaps, readVmstat, readMthpStats, smapsFieldInRange, vmstatDelta } from '../lib/procfs.js';
import { ensureZramSwap } from '../deploy/zram.js';
import { cgroup2MountPoint } from './targets.js';

const MiB = 1 << 20;
const THP = '/sys/kernel/mm/transparent_hugepage';

function faultCount(pid: number): number {
  const s = readProcStat(pid);
  return s.minflt + s.majflt;
}

/** Runs `body` with probes attached, then returns every event they delivered. */
async function traced(config: Partial<ProbesConfig>, body: () => Promise<void>): Promise<{ events: ProbeEvent[]; lost: number }> {
  const events: ProbeEvent[] = [];
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, ...config }, { addon: loadAddon() });
  try {
    probes.start({ onEvents: (batch) => events.push(...batch) });
    await body();
  } finally {
    probes.stop();
  }
  return { events, lost: probes.loss().total };
}

/** Sets sysfs knobs for the test and puts the old values back afterwards. */
async function withSysfs(settings: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const old = Object.fromEntries(Object.keys(settings).map((p) => [p, /\[(\w+)\]/.exec(readFileSync(p, 'utf8'))?.[1] ?? '']));
  try {
    for (const [p, v] of Object.entries(settings)) writeFileSync(p, v);
    await body();
  } finally {
    for (const [p, v] of Object.entries(old)) if (v) writeFileSync(p, v);
  }
}

const workloads: Memtouch[] = [];
async function workload(): Promise<Memtouch> {
  const w = await startMemtouch();
  workloads.push(w);
  return w;
}
after(async () => {
  for (const w of workloads) w.kill();
});

describe('fault family', () => {
  test('raw mode: one event per fault, exactly the process minflt + majflt', async () => {
    const w = await workload();
    let delta = 0;
    const { events, lost } = await traced({ families: ['fault'], faultMode: 'raw', targets: { pids: [w.pid], cgroups: [] } }, async () => {
      const before = faultCount(w.pid);
      await w.map('a', 64);
      await w.send('touch a');
      delta = faultCount(w.pid) - before;
    });
    const faults = events.filter((e) => e.type === 'fault' && e.h.pid === w.pid);
    assert.equal(lost, 0);
    assert.ok(delta >= (64 * MiB) / 4096, `the workload faulted ${delta} times`);
    assert.equal(faults.length, delta);
    assert.ok(faults.every((e) => e.type === 'fault' && (e.errorCode & 4) !== 0), 'every fault has the user bit');
    await w.exit();
  });

  test('aggregated mode (exact): per-region summaries add up to minflt + majflt within 1%', async () => {
    const w = await workload();
    let delta = 0;
    let base = 0;
    const { events } = await traced({ families: ['fault'], faultMode: 'aggregated', targets: { pids: [w.pid], cgroups: [] } }, async () => {
      const before = faultCount(w.pid);
      base = await w.map('a', 64);
      await w.send('touch a');
      delta = faultCount(w.pid) - before;
    });
    const summaries = events.filter((e) => e.type === 'fault_summary' && e.pid === w.pid);
    const total = summaries.reduce((n, e) => n + (e.type === 'fault_summary' ? e.faults : 0), 0);
    assert.ok(Math.abs(total - delta) <= delta * 0.01, `summaries ${total} vs kernel ${delta}`);
    // 64 MiB in 2 MiB regions: 32 regions of the mapping, 512 faults each.
    const inMapping = summaries.filter((e) => e.type === 'fault_summary' && e.regionStart >= base && e.regionStart < base + 64 * MiB);
    const regions = new Set(inMapping.map((e) => (e.type === 'fault_summary' ? e.regionStart : 0)));
    assert.equal(regions.size, 32);
    await w.exit();
  });

  test('an exited process: its last summaries say so; one swept in full before it exits gets one row of 0 faults that says so', async () => {
    const swept = await workload();
    const last = await workload();
    const probes = createProbes(
      { ...DEFAULT_PROBES_CONFIG, families: ['fault'], faultMode: 'aggregated', faultSweepIntervalMs: 3_600_000, targets: { pids: [swept.pid, last.pid], cgroups: [] } },
      { addon: loadAddon() },
    );
    try {
      probes.start({ onEvents: () => undefined });
      const lastBefore = faultCount(last.pid);
      const sweptStart = readProcStat(swept.pid).startTicks;
      await swept.map('a', 16);
      await swept.send('touch a');
      const alive = probes.sweepFaults().filter((s) => s.pid === swept.pid);
      assert.ok(alive.length >= 8, `${alive.length} rows while it runs`);
      assert.ok(alive.every((s) => s.exited === 0), 'alive: no row says exited');
      // start_ns is the boot-clock start the kernel shows in /proc/PID/stat (in 10 ms ticks).
      assert.ok(Math.abs(Math.floor(alive[0]!.startNs / 1e7) - sweptStart) <= 1);

      await last.map('a', 16);
      await last.send('touch a');
      const lastFaults = faultCount(last.pid) - lastBefore;
      await swept.exit();
      await last.exit();
      const rows = probes.sweepFaults();
      const sweptRows = rows.filter((s) => s.pid === swept.pid);
      assert.deepEqual(sweptRows.map((s) => ({ faults: s.faults, exited: s.exited, startNs: s.startNs })), [{ faults: 0, exited: 1, startNs: alive[0]!.startNs }]);
      const lastRows = rows.filter((s) => s.pid === last.pid);
      assert.ok(lastRows.length >= 8 && lastRows.every((s) => s.exited === 1), 'every row of a process gone by the sweep says so');
      const counted = lastRows.reduce((n, s) => n + s.faults, 0);
      // Its faults up to the read of /proc, plus the few of its exit.
      assert.ok(counted >= lastFaults * 0.99 && counted <= lastFaults * 1.01 + 64, `summaries ${counted} vs kernel ${lastFaults}`);
      // Forgotten once reported: the next sweep has nothing of either.
      const again = probes.sweepFaults().filter((s) => s.pid === swept.pid || s.pid === last.pid);
      assert.deepEqual(again, []);
    } finally {
      probes.stop();
    }
  });

  test('sampled mode (the default): >= 100k faults, the scaled counts within 5% of minflt, labelled with the period', async () => {
    const w = await workload();
    let delta = 0;
    let base = 0;
    const { events } = await traced({ ...SAMPLED_PROBES_CONFIG, families: ['fault'], targets: { pids: [w.pid], cgroups: [] } }, async () => {
      const before = readProcStat(w.pid).minflt;
      base = await w.map('a', 512);
      await w.send('touch a');
      delta = readProcStat(w.pid).minflt - before;
    });
    assert.ok(delta >= 100_000, `the workload faulted ${delta} times`);
    const summaries = events.flatMap((e) => (e.type === 'fault_summary' && e.pid === w.pid ? [e] : []));
    const total = summaries.reduce((n, e) => n + e.faults, 0);
    assert.ok(Math.abs(total - delta) <= delta * 0.05, `sampled ${total} vs minflt ${delta}`);
    assert.ok(summaries.every((e) => e.samplePeriod === DEFAULT_PROBES_CONFIG.faultSamplePeriod), 'every summary says its counts are sampled 1 in 16');
    // 512 MiB in 2 MiB regions, 512 faults each: every region gets ~32 samples.
    const regions = new Set(summaries.filter((e) => e.regionStart >= base && e.regionStart < base + 512 * MiB).map((e) => e.regionStart));
    assert.equal(regions.size, 256);
    await w.exit();
  });

  test('sampled mode, pid target: threads the process creates count, processes it forks do not', async () => {
    const w = await workload();
    let threadDelta = 0;
    let child = 0;
    const { events } = await traced({ ...SAMPLED_PROBES_CONFIG, families: ['fault'], faultSamplePeriod: 1, targets: { pids: [w.pid], cgroups: [] } }, async () => {
      await w.map('t', 16);
      await w.map('f', 16);
      const before = readProcStat(w.pid).minflt;
      await w.send('threadtouch t');
      threadDelta = readProcStat(w.pid).minflt - before;
      child = Number(await w.send('forktouch f'));
    });
    const summaries = events.flatMap((e) => (e.type === 'fault_summary' ? [e] : []));
    assert.ok(child > 0, 'the fork happened');
    assert.deepEqual([...new Set(summaries.map((e) => e.pid))], [w.pid], 'the forked child is not a target');
    const total = summaries.reduce((n, e) => n + e.faults, 0);
    assert.ok(threadDelta >= (16 * MiB) / 4096, `the thread faulted ${threadDelta} times`);
    // Period 1: exact through the perf event; the fork itself copies page tables and faults a little in the parent.
    assert.ok(total >= threadDelta, `counted ${total}, the thread alone faulted ${threadDelta}`);
    assert.ok(total <= threadDelta + 200, `counted ${total}: the child's 4096 faults are not in it`);
    await w.exit();
  });

  test('a process outside the targets costs no program run (bpf_stats run counts), in the default config', async () => {
    const idle = await workload();
    const busy = await workload();
    const fd = loadAddon().enableBpfStats();
    try {
      const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, ...SAMPLED_PROBES_CONFIG, targets: { pids: [idle.pid], cgroups: [] } }, { addon: loadAddon() });
      try {
        probes.start({});
        const before = new Map(probes.costReading().programs.map((p) => [p.name, p.runCount]));
        await busy.map('b', 64);
        const faultsBefore = readProcStat(busy.pid).minflt;
        await busy.send('touch b');
        const busyFaults = readProcStat(busy.pid).minflt - faultsBefore;
        assert.ok(busyFaults >= (64 * MiB) / 4096, `the process outside the targets faulted ${busyFaults} times`);
        const after = probes.costReading().programs;
        const perFault = after.filter((p) => ['pl_fault_sample', 'pl_major_fault', 'pl_page_fault_user', 'pl_mm_page_alloc'].includes(p.name));
        assert.ok(perFault.some((p) => p.name === 'pl_fault_sample'), 'the sampled-fault program is attached');
        for (const p of perFault) assert.equal(p.runCount - (before.get(p.name) ?? 0), 0, `${p.name} ran for a process outside the targets`);
      } finally {
        probes.stop();
      }
    } finally {
      loadAddon().closeFd(fd);
    }
    await idle.exit();
    await busy.exit();
  });

  test('exact mode, a process outside the targets: page_fault_user runs once per fault (the dispatch) and records nothing', async () => {
    // Tracepoints cannot be scoped in the kernel: every fault of every
    // process runs the program, which rejects a foreign one at its first check.
    const idle = await workload();
    const busy = await workload();
    const fd = loadAddon().enableBpfStats();
    try {
      const events: ProbeEvent[] = [];
      const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, ...EXACT_PROBES_CONFIG, families: ['fault', 'promotion'], targets: { pids: [idle.pid], cgroups: [] } }, { addon: loadAddon() });
      try {
        probes.start({ onEvents: (b) => events.push(...b) });
        await busy.map('b', 64);
        const runsBefore = probes.costReading().programs.find((p) => p.name === 'pl_page_fault_user')!.runCount;
        const faultsBefore = readProcStat(busy.pid).minflt;
        await busy.send('touch b');
        const busyFaults = readProcStat(busy.pid).minflt - faultsBefore;
        const runs = probes.costReading().programs.find((p) => p.name === 'pl_page_fault_user')!.runCount - runsBefore;
        assert.ok(busyFaults >= (64 * MiB) / 4096, `the process outside the targets faulted ${busyFaults} times`);
        // Other processes on the host fault too, and each runs the program: at least busy's, never fewer.
        assert.ok(runs >= busyFaults, `page_fault_user ran ${runs} times for ${busyFaults} faults of the foreign process`);
        assert.equal(probes.sweepFaults().filter((s) => s.pid === busy.pid).length, 0, 'nothing counted for it');
      } finally {
        probes.stop();
      }
      assert.equal(events.filter((e) => (e.type === 'fault_summary' ? e.pid : e.h.pid) === busy.pid).length, 0, 'nothing recorded for it');
    } finally {
      loadAddon().closeFd(fd);
    }
    await idle.exit();
    await busy.exit();
  });

  test('a pid target excludes other processes', async () => {
    const wanted = await workload();
    const other = await workload();
    let delta = 0;
    const { events } = await traced({ families: ['fault'], faultMode: 'raw', targets: { pids: [wanted.pid], cgroups: [] } }, async () => {
      const before = faultCount(wanted.pid);
      await other.map('o', 16);
      await other.send('touch o');
      await wanted.map('a', 8);
      await wanted.send('touch a');
      delta = faultCount(wanted.pid) - before;
    });
    const pids = new Set(events.map((e) => (e.type === 'fault_summary' ? e.pid : e.h.pid)));
    assert.deepEqual([...pids], [wanted.pid]);
    assert.equal(events.length, delta);
    await wanted.exit();
    await other.exit();
  });

  test('a cgroup target reports only processes in that cgroup', async () => {
    const mount = cgroup2MountPoint(readFileSync('/proc/self/mounts', 'utf8'));
    assert.ok(mount, 'this host has a cgroup v2 mount');
    const dir = `${mount}/pageloop-test-${process.pid}`;
    if (!existsSync(dir)) mkdirSync(dir);
    const inside = await workload();
    const outside = await workload();
    writeFileSync(`${dir}/cgroup.procs`, String(inside.pid));
    try {
      let delta = 0;
      const { events } = await traced({ families: ['fault'], faultMode: 'raw', targets: { pids: [], cgroups: [dir] } }, async () => {
        const before = faultCount(inside.pid);
        await outside.map('o', 8);
        await outside.send('touch o');
        await inside.map('a', 8);
        await inside.send('touch a');
        delta = faultCount(inside.pid) - before;
      });
      const pids = new Set(events.map((e) => (e.type === 'fault_summary' ? e.pid : e.h.pid)));
      assert.deepEqual([...pids], [inside.pid]);
      assert.equal(events.length, delta);
    } finally {
      await inside.exit();
      await outside.exit();
      rmdirSync(dir);
    }
  });

  test('ring-buffer loss is counted: delivered + lost = the kernel fault count', async () => {
    const w = await workload();
    let delta = 0;
    const { events, lost } = await traced(
      { families: ['fault'], faultMode: 'raw', ringBufferBytes: 4096, targets: { pids: [w.pid], cgroups: [] } },
      async () => {
        const before = faultCount(w.pid);
        await w.map('a', 64);
        await w.send('touch a');
        delta = faultCount(w.pid) - before;
      },
    );
    assert.ok(lost > 0, 'a 4 KiB ring buffer overflows under 16384 faults');
    assert.equal(events.length + lost, delta);
    await w.exit();
  });
});

/**
 * Exact promotions against the kernel's counters. thp_fault_alloc and the
 * per-size anon_fault_alloc are host-wide, and on a shared machine other
 * processes fault large folios in the same window (seen: 20 where the
 * target faulted 16), and there is no per-process or (the memory
 * controller is on cgroup v1 here) per-cgroup THP fault counter. So the
 * probes trace every process in the window, which shows whether the window
 * was the target's alone: the target's promotions must equal its smaps
 * (the kernel's per-process count) at the very addresses in every attempt,
 * and equal the host-wide counter's delta in an attempt where the trace saw
 * no other process allocate a folio of that order. An attempt that saw one
 * is not a pass: it is retried on a fresh mapping, up to ATTEMPTS times,
 * and the test fails if none was the target's alone (a neighbour churning
 * huge pages without pause, as another session's chaos run did for
 * minutes, fails it, naming the pids). (Comparing the
 * host-wide totals instead does not hold: another tenant's order-4
 * allocations, 128 in one window, were traced in a fault of theirs and not
 * counted by anon_fault_alloc.)
 */
const ATTEMPTS = 40;

async function promotionsAgainstCounter(
  order: number,
  w: Memtouch,
  mapMiB: number,
  counter: () => number,
  checkTarget: (mine: Extract<ProbeEvent, { type: 'promotion' }>[], base: number) => void,
): Promise<void> {
  const addon = loadAddon();
  const seen: string[] = [];
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let base = 0;
    let delta = 0;
    let t0 = 0;
    let t1 = 0;
    const { events, lost } = await traced({ families: ['promotion'], promotionMode: 'exact', targets: { pids: [], cgroups: [] } }, async () => {
      base = await w.map(`p${attempt}`, mapMiB, 'hugepage');
      // The window holds the two counter reads (a fault between a read and the clock is microseconds away).
      t0 = addon.bootTimeNs();
      const before = counter();
      await w.send(`touch p${attempt}`);
      delta = counter() - before;
      t1 = addon.bootTimeNs();
    });
    assert.equal(lost, 0, 'no promotion record was lost: the trace of the window is complete');
    const ok = events.flatMap((e) => (e.type === 'promotion' && !e.failed && e.order === order ? [e] : []));
    const mine = ok.filter((e) => e.h.pid === w.pid);
    checkTarget(mine, base);
    assert.ok(delta >= mine.length, `the host-wide counter (+${delta}) holds at least the target's ${mine.length}`);
    const others = ok.filter((e) => e.h.pid !== w.pid && e.h.tsNs >= t0 && e.h.tsNs <= t1);
    if (others.length === 0) {
      assert.equal(mine.length, delta, `the target's promotions against the host-wide counter's delta (attempts before: ${seen.join('; ') || 'none'})`);
      return;
    }
    seen.push(`attempt ${attempt + 1}: counter +${delta}, target ${mine.length}, ${others.length} by pids ${[...new Set(others.map((e) => e.h.pid))].join(',')}`);
  }
  assert.fail(`no window of ${ATTEMPTS} was the target's alone: ${seen.join('; ')}`);
}

describe('promotion family', () => {
  test('exact mode, 2M THP at fault time: one event per huge page, as smaps says and thp_fault_alloc counts', async () => {
    await withSysfs({ [`${THP}/enabled`]: 'madvise', [`${THP}/hugepages-2048kB/enabled`]: 'inherit' }, async () => {
      const w = await workload();
      await promotionsAgainstCounter(9, w, 32, () => readVmstat().get('thp_fault_alloc')!, (mine, base) => {
        const anonHugeKb = smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', base, base + 32 * MiB);
        assert.equal(anonHugeKb, 32 * 1024, 'the kernel backed the region with huge pages');
        assert.equal(mine.length, anonHugeKb / 2048, "the target's promotions: as many as its smaps' huge pages");
        assert.deepEqual(
          mine.map((e) => e.address).sort((a, b) => a - b),
          Array.from({ length: 16 }, (_, i) => base + i * 2 * MiB),
        );
      });
      await w.exit();
    });
  });

  test('exact mode, 64K mTHP at fault time: order-4 events, as the per-size anon_fault_alloc counts', async () => {
    await withSysfs({ [`${THP}/hugepages-2048kB/enabled`]: 'never', [`${THP}/hugepages-64kB/enabled`]: 'madvise' }, async () => {
      const w = await workload();
      await promotionsAgainstCounter(4, w, 4, () => readMthpStats().get(64)!.anon_fault_alloc!, (mine, base) => {
        assert.equal(mine.length, 64, "4 MiB in 64 KiB folios: the target's promotions");
        assert.deepEqual(
          mine.map((e) => e.address).sort((a, b) => a - b),
          Array.from({ length: 64 }, (_, i) => base + i * 64 * 1024),
        );
      });
      await w.exit();
    });
  });
});

describe('collapse family', () => {
  test('MADV_COLLAPSE: one successful collapse per 2M extent, as thp_collapse_alloc and smaps say', async () => {
    const w = await workload();
    let base = 0;
    let delta = 0;
    const { events } = await traced({ families: ['collapse'], targets: { pids: [w.pid], cgroups: [] } }, async () => {
      base = await w.map('c', 8, 'plain');
      await w.send('touch c');
      const before = readVmstat();
      await w.send('collapse c');
      delta = vmstatDelta(before, readVmstat(), ['thp_collapse_alloc']).thp_collapse_alloc!;
    });
    const extents = smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', base, base + 8 * MiB) / 2048;
    const collapses = events.filter((e) => e.type === 'collapse' && e.h.pid === w.pid);
    assert.equal(extents, 4);
    assert.equal(delta, 4);
    assert.equal(collapses.filter((e) => e.type === 'collapse' && e.status === 1 /* succeeded */).length, delta);
    assert.ok(collapses.every((e) => e.type === 'collapse' && e.callerPid === w.pid));
    await w.exit();
  });
});

describe('compaction family', () => {
  test('writing compact_memory: the runs scan what compact_*_scanned say', async () => {
    let delta: Record<string, number> = {};
    let writer = 0;
    const { events } = await traced({ families: ['compaction'] }, async () => {
      const before = readVmstat();
      const r = spawnSync('sh', ['-c', 'echo $$; echo 1 > /proc/sys/vm/compact_memory'], { encoding: 'utf8' });
      writer = Number(r.stdout.trim());
      delta = vmstatDelta(before, readVmstat(), ['compact_migrate_scanned', 'compact_free_scanned']);
    });
    const runs = events.filter((e) => e.type === 'compaction');
    const byWriter = runs.filter((e) => e.type === 'compaction' && e.h.pid === writer);
    assert.ok(byWriter.length >= 1, 'the writer of compact_memory stalled on at least one compaction run');
    assert.ok(byWriter.every((e) => e.type === 'compaction' && e.order === -1 && e.durationNs > 0));
    const scanned = (k: 'migrateScanned' | 'freeScanned') => runs.reduce((n, e) => n + (e.type === 'compaction' ? e[k] : 0), 0);
    assert.equal(scanned('migrateScanned'), delta.compact_migrate_scanned);
    assert.equal(scanned('freeScanned'), delta.compact_free_scanned);
  });
});

describe('swap family', () => {
  test('MADV_PAGEOUT to zram, then re-touch: swap-outs match pswpout and smaps Swap, swap-ins match majflt', async () => {
    const swap = ensureZramSwap(1024);
    const w = await workload();
    try {
      let base = 0;
      let out: Record<string, number> = {};
      let swapKb = 0;
      let majflt = 0;
      const { events } = await traced({ families: ['swap'], targets: { pids: [w.pid], cgroups: [] } }, async () => {
        base = await w.map('s', 16, 'plain');
        await w.send('touch s');
        const before = readVmstat();
        await w.send('pageout s');
        out = vmstatDelta(before, readVmstat(), ['pswpout']);
        swapKb = smapsFieldInRange(readSmaps(w.pid), 'Swap', base, base + 16 * MiB);
        const majBefore = readProcStat(w.pid).majflt;
        await w.send('read s');
        majflt = readProcStat(w.pid).majflt - majBefore;
      });
      const swapOuts = events.filter((e) => e.type === 'swap_out' && e.h.pid === w.pid);
      const pagesOut = swapOuts.reduce((n, e) => n + (e.type === 'swap_out' ? e.pages : 0), 0);
      assert.equal(swapKb, 16 * 1024, 'the whole region went to swap');
      assert.equal(out.pswpout, 4096);
      assert.equal(pagesOut, out.pswpout);
      assert.ok(swapOuts.every((e) => e.type === 'swap_out' && e.address >= base && e.address < base + 16 * MiB));
      const swapIns = events.filter((e) => e.type === 'swap_in' && e.h.pid === w.pid);
      assert.equal(majflt, 4096);
      assert.equal(swapIns.length, majflt);
      assert.ok(swapIns.every((e) => e.type === 'swap_in' && e.backing === 1 /* anon */));
    } finally {
      await w.exit();
      swap.teardown();
    }
  });
});

describe('bad input', () => {
  test('an unknown event family, a pid that does not exist and a bad cgroup path are refused by name', () => {
    // @ts-expect-error: a family name the type does not allow, as a config file could hold
    assert.throws(() => createProbes({ ...DEFAULT_PROBES_CONFIG, families: ['fault', 'pagecache'] }, { addon: loadAddon() }), /families\[1\]: unknown event family 'pagecache'/);
    assert.throws(() => createProbes({ ...DEFAULT_PROBES_CONFIG, targets: { pids: [999_999_999], cgroups: [] } }, { addon: loadAddon() }), /targets.pids: no process with pid 999999999/);
    assert.throws(() => createProbes({ ...DEFAULT_PROBES_CONFIG, targets: { pids: [], cgroups: ['/no/such/cgroup'] } }, { addon: loadAddon() }), /targets.cgroups: '\/no\/such\/cgroup' is not a cgroup v2 directory/);
    assert.throws(() => createProbes({ ...DEFAULT_PROBES_CONFIG, ringBufferBytes: 5000 }, { addon: loadAddon() }), /ringBufferBytes: wants a power of two/);
    // @ts-expect-error: a mode the type does not allow
    assert.throws(() => createProbes({ ...DEFAULT_PROBES_CONFIG, faultMode: 'sometimes' }, { addon: loadAddon() }), /faultMode: 'sometimes' is not one of sampled, aggregated, raw/);
    // @ts-expect-error: a mode the type does not allow
    assert.throws(() => createProbes({ ...DEFAULT_PROBES_CONFIG, promotionMode: 'guess' }, { addon: loadAddon() }), /promotionMode: 'guess' is not one of counters, exact/);
    assert.throws(() => createProbes({ ...DEFAULT_PROBES_CONFIG, faultSamplePeriod: 0 }, { addon: loadAddon() }), /faultSamplePeriod/);
  });
});

describe('pageloop trace', () => {
  const cli = new URL('../cli/main.js', import.meta.url).pathname;

  test('--json prints events, then one summary line with counts per family and loss per CPU', async () => {
    const w = await workload();
    await w.map('a', 4);
    const child = spawn('node', [cli, 'trace', '--json', '--events', 'fault', '--fault-mode', 'raw', '--pid', String(w.pid), '--duration', '3'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    // The command says on stderr when its probes are attached.
    await new Promise<void>((resolve) => child.stderr.setEncoding('utf8').once('data', () => resolve()));
    await w.send('touch a');
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.at(-1)!;
    assert.equal(summary.type, 'summary');
    assert.equal(lines.filter((l) => l.type === 'fault').length, 1024);
    assert.deepEqual(summary.perFamily, { fault: 1024, promotion: 0, collapse: 0, compaction: 0, swap: 0 });
    const loss = summary.loss as { perFamily: Record<string, number[]>; total: number };
    assert.equal(loss.total, 0);
    const [first, last] = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split('-').map(Number);
    assert.equal(loss.perFamily.fault!.length, (last ?? first!) - first! + 1, 'one loss count per possible CPU');
    await w.exit();
  });

  for (const [args, message] of [
    [['--events', 'fault,nope'], "--events: unknown event family 'nope'"],
    [['--pid', '999999999'], 'no process with pid 999999999'],
    [['--cgroup', '/no/such/cgroup'], "'/no/such/cgroup' is not a cgroup v2 directory"],
    [['--bogus'], 'unknown flag --bogus'],
  ] as const) {
    test(`bad input ${args.join(' ')} exits 2 and says: ${message}`, () => {
      const r = spawnSync('node', [cli, 'trace', ...args, '--duration', '1'], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.ok(r.stderr.includes(message), r.stderr);
    });
  }
});
