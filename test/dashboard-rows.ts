/**
 * Representative rows in every table the dashboards read, written straight
 * into the sink's tables (the materialized views fill the rollups), for the
 * dashboard tests. A real pipeline run can take its place: anything that
 * fills the tables and returns the time range it covers will do.
 */
import type { PageloopClickHouse } from '../clickhouse/client.js';
import { TABLE } from '../schemas/clickhouse-tables.js';

export interface LoadedData {
  /** The wall-clock range (epoch ms) the rows cover. */
  readonly from: number;
  readonly to: number;
}

const MINUTE = 60_000;

/** DateTime64(3) text for JSONEachRow. */
function chTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

interface Proc {
  readonly host: string;
  readonly boot_id: string;
  readonly pid: number;
  readonly start_ns: number;
  readonly comm: string;
}

const HOSTS = ['host-a', 'host-b'] as const;

function processesOf(host: string, h: number): Proc[] {
  return [0, 1].map((i) => ({ host, boot_id: `boot-${host}`, pid: 1000 + 10 * h + i, start_ns: 5_000_000_000 + i * 1_000_000, comm: i === 0 ? 'redis-server' : 'postgres' }));
}

/** Deterministic pseudo-random numbers (the data must not vary between runs). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

/**
 * Writes MINUTES minutes of activity for two hosts with two processes each,
 * ending two minutes ago (recent, so no TTL can expire it during the test).
 */
export async function loadSyntheticData(ch: PageloopClickHouse, minutes = 30): Promise<LoadedData> {
  const end = Math.floor(Date.now() / MINUTE) * MINUTE - 2 * MINUTE;
  const start = end - minutes * MINUTE;
  const rand = lcg(42);
  const provenance = (i: number): { kafka_partition: number; kafka_offset: number } => ({ kafka_partition: 0, kafka_offset: i });
  let offset = 0;

  const events: Record<string, unknown>[] = [];
  const batches: Record<string, unknown>[] = [];
  const loss: Record<string, unknown>[] = [];
  const drops: Record<string, unknown>[] = [];
  const vmstat: Record<string, unknown>[] = [];
  const psi: Record<string, unknown>[] = [];
  const damon: Record<string, unknown>[] = [];
  const scores: Record<string, unknown>[] = [];
  const phases: Record<string, unknown>[] = [];
  const hints: Record<string, unknown>[] = [];
  const actions: Record<string, unknown>[] = [];
  const tuner: Record<string, unknown>[] = [];
  const deadLetters: Record<string, unknown>[] = [];
  const overhead: Record<string, unknown>[] = [];
  const programCosts: Record<string, unknown>[] = [];

  for (const [h, host] of HOSTS.entries()) {
    const procs = processesOf(host, h);
    const bootId = `boot-${host}`;
    const collectorId = `collector-${host}`;
    let lost0 = 0;
    let lost1 = 0;
    let dropped = 0;
    for (let m = 0; m < minutes; m++) {
      const t0 = start + m * MINUTE;
      const tsNs = (ms: number): number => 1_000_000_000_000 + (ms - start) * 1_000_000;
      // One collector batch a minute; sequence 7 never arrives (a lost batch).
      const sequence = m < 7 ? m : m + 1;
      batches.push({
        time: chTime(t0 + 59_000),
        host,
        boot_id: bootId,
        collector_id: collectorId,
        sequence,
        first_event_ns: tsNs(t0),
        last_event_ns: tsNs(t0 + 59_000),
        events: 400,
        fault_events: 300,
        promotion_events: 40,
        collapse_events: 5,
        compaction_events: 5,
        swap_events: 50,
        vmstat_samples: 1,
        psi_samples: 1,
        damon_regions: 8,
        record_bytes: 20_000,
        ...provenance(offset++),
      });
      // Ring-buffer loss from minute 10 on, cumulative per CPU, reported on every batch.
      if (m >= 10) {
        lost0 += 3 + m;
        lost1 += 1;
        for (const [cpu, lost] of [
          [0, lost0],
          [1, lost1],
        ] as const) {
          loss.push({ time: chTime(t0 + 59_000), host, boot_id: bootId, collector_id: collectorId, sequence, family: 'fault', cpu, lost, ...provenance(offset) });
        }
      }
      if (m >= 20) {
        dropped += 2;
        drops.push({ time: chTime(t0 + 59_000), host, boot_id: bootId, collector_id: collectorId, sequence, family: 'vmstat', dropped, ...provenance(offset) });
      }
      for (const [name, delta] of [
        ['workingset_refault_anon', 40 + m],
        ['workingset_refault_file', 10],
        ['pswpin', 30],
        ['pswpout', 55],
        ['thp_fault_alloc', 20],
        ['thp_fault_fallback', 3],
        ['thp_collapse_alloc', 2],
        ['thp_collapse_alloc_failed', 1],
        ['compact_stall', 4],
        ['compact_fail', 1],
        ['compact_success', 3],
      ] as const) {
        vmstat.push({ time: chTime(t0 + 30_000), ts_ns: tsNs(t0 + 30_000), host, boot_id: bootId, interval_ns: 60_000_000_000, name, delta, ...provenance(offset) });
      }
      // One overhead interval a minute; host-b ran its first 5 minutes without BPF stats (no program rows).
      const statsOn = h === 0 || m >= 5;
      const interval = { time: chTime(t0 + 59_000), ts_ns: tsNs(t0 + 59_000), host, boot_id: bootId, collector_id: collectorId, interval_ns: 60_000_000_000, cpus: 2 };
      overhead.push({ ...interval, stats_enabled: statsOn ? 1 : 0, agent_cpu_ns: 300_000_000 + Math.floor(rand() * 1e8), host_faults: 6_000_000, host_busy_ns: 60_000_000_000, ...provenance(offset) });
      if (statsOn) {
        for (const [program, faultPath, runs, nsPerRun] of [
          ['pl_fault_sample', 1, 375_000, 900 + h * 100],
          ['pl_major_fault', 1, 2_000, 1_500],
          ['pl_mm_compaction_begin', 0, 4, 400],
        ] as const) {
          const { cpus, interval_ns, ...rest } = interval;
          programCosts.push({ ...rest, program, fault_path: faultPath, run_count: runs, run_time_ns: runs * nsPerRun, interval_ns, cpus, ...provenance(offset) });
        }
      }
      psi.push({
        time: chTime(t0 + 30_000),
        ts_ns: tsNs(t0 + 30_000),
        host,
        boot_id: bootId,
        cgroup: '',
        some_avg10: 2 + rand() * 5,
        some_avg60: 3,
        some_avg300: 3,
        some_total_us: 1_000_000 + m * 1000,
        full_avg10: rand(),
        full_avg60: 0.5,
        full_avg300: 0.5,
        full_total_us: 100_000 + m * 100,
        ...provenance(offset),
      });

      // Kernel events of each process.
      for (const [pi, p] of procs.entries()) {
        const id = { host, boot_id: p.boot_id, pid: p.pid, start_ns: p.start_ns, tid: p.pid };
        for (let k = 0; k < 6; k++) {
          const ms = t0 + k * 9_000 + pi * 500;
          const region = 0x7f00_0000_0000 + (k % 3) * 0x20_0000 + pi * 0x100_0000;
          events.push({ time: chTime(ms), ts_ns: tsNs(ms), ...id, type: 'fault', cpu: k % 2, address: region + 0x1000 * k, weight: 16, write_faults: 8, ...provenance(offset) });
        }
        events.push({
          time: chTime(t0 + 20_000),
          ts_ns: tsNs(t0 + 20_000),
          ...id,
          type: 'fault_summary',
          address: 0x5555_0000_0000 + pi * 0x20_0000,
          region_bytes: 0x20_0000,
          weight: 120,
          write_faults: 30,
          ...provenance(offset),
        });
        for (const [order, failed] of [
          [9, 0],
          [4, 0],
          [9, m % 3 === 0 ? 1 : 0],
          [4, 1],
        ] as const) {
          events.push({ time: chTime(t0 + 25_000 + order * 100), ts_ns: tsNs(t0 + 25_000), ...id, type: 'promotion', address: 0x7f00_0000_0000, page_order: order, failed, ...provenance(offset) });
        }
        events.push({ time: chTime(t0 + 40_000), ts_ns: tsNs(t0 + 40_000), ...id, type: 'swap_out', address: 0x7f00_0040_0000, pages: 16, ...provenance(offset) });
        events.push({ time: chTime(t0 + 45_000), ts_ns: tsNs(t0 + 45_000), ...id, type: 'swap_in', address: 0x7f00_0040_1000, backing: 1, ...provenance(offset) });
        events.push({ time: chTime(t0 + 46_000), ts_ns: tsNs(t0 + 46_000), ...id, type: 'swap_in', address: 0x5555_0000_1000, backing: 2, ...provenance(offset) });
        if (m % 2 === 0) {
          // A direct compaction in the process' context.
          events.push({
            time: chTime(t0 + 50_000),
            ts_ns: tsNs(t0 + 50_000),
            ...id,
            type: 'compaction',
            comm: p.comm,
            duration_ns: Math.round((0.2 + rand() * 5) * 1e6),
            page_order: 9,
            status: 1,
            sync: 0,
            direct: 1,
            zone_start_pfn: 0x1000,
            zone_end_pfn: 0x80000,
            migrate_scanned: 512,
            free_scanned: 1024,
            ...provenance(offset),
          });
        }
        // DAMON: eight regions a minute.
        for (let r = 0; r < 8; r++) {
          const regionStart = 0x7f00_0000_0000 + r * 0x10_0000 + pi * 0x100_0000;
          damon.push({
            time: chTime(t0 + 10_000),
            ts_ns: tsNs(t0 + 10_000),
            host,
            boot_id: p.boot_id,
            pid: p.pid,
            start_ns: p.start_ns,
            region_start: regionStart,
            region_end: regionStart + 0x10_0000,
            nr_accesses: (r * 3 + m) % 20,
            age: m,
            ...provenance(offset),
          });
        }
        if (m % 5 === 0) {
          for (let r = 0; r < 3; r++) {
            const net = [0, 1 + r + rand(), 2 - r + rand()];
            scores.push({
              time: chTime(t0 + 55_000),
              host,
              boot_id: p.boot_id,
              pid: p.pid,
              start_ns: p.start_ns,
              executable: `/usr/bin/${p.comm}`,
              comm: p.comm,
              mapping_kind: 'anon',
              mapping_path: '',
              mapping_ordinal: r,
              region_offset: 0,
              region_start: 0x7f00_0000_0000 + r * 0x20_0000,
              region_length: 0x20_0000,
              window_start_ns: tsNs(t0),
              window_end_ns: tsNs(t0 + 55_000),
              preferred_size_kb: net[1]! > net[2]! ? 64 : 2048,
              size_kb: [4, 64, 2048],
              benefit: [0, 2 + r, 4 - r],
              cost: [0, 1, 2],
              net,
              faults: 100 + r,
              write_faults: 40,
              major_faults: 2,
              promotions: 3,
              promotion_failures: 1,
              swap_outs: 1,
              damon_accesses: 5.5,
              touched_bytes: 0x20_0000,
              ...provenance(offset),
            });
          }
        }
      }
      offset++;
    }

    for (const [pi, p] of procs.entries()) {
      const id = { host, boot_id: p.boot_id, pid: p.pid, start_ns: p.start_ns };
      for (const [i, at] of [8, 21].entries()) {
        phases.push({
          time: chTime(start + at * MINUTE + pi * 1000),
          ...id,
          at_ns: 1,
          phase: i + 1,
          distance: 0.4 + i * 0.2,
          reason: i === 0 ? 'hot set moved' : 'fault rate doubled',
          before_hot_set_hash: 1,
          before_hot_regions: 3,
          before_hot_bytes: 6 * 0x10_0000,
          before_fault_rate: 100,
          after_hot_set_hash: 2,
          after_hot_regions: 5,
          after_hot_bytes: 10 * 0x10_0000,
          after_fault_rate: 200,
          ...provenance(offset++),
        });
      }
      const region = { mapping_kind: 'anon', mapping_path: '', mapping_ordinal: 0, region_offset: 0, region_start: 0x7f00_0000_0000, region_length: 0x20_0000 };
      for (const [i, [action, outcome, reason, errno]] of (
        [
          ['promote', 'applied', '', 0],
          ['promote', 'refused', 'process not on the allow-list', 0],
          ['page_out', 'applied', '', 0],
          ['page_out', 'failed', 'process_madvise: EPERM', 1],
          ['keep_base_pages', 'dry_run', 'dry run', 0],
        ] as const
      ).entries()) {
        const hintId = `${host}-${p.pid}-${i}`;
        const at = start + (5 + i * 4) * MINUTE + pi * 2000;
        hints.push({
          time: chTime(at),
          ...id,
          hint_id: hintId,
          action,
          page_size_kb: action === 'promote' ? 2048 : 4,
          score: 1.5 + i,
          reason: `net ${1.5 + i} over threshold`,
          issued_ns: 1,
          expires_ns: 2,
          cgroup: '',
          bytes: 0x20_0000,
          ...region,
          withdrawn: 0,
          ...provenance(offset++),
        });
        actions.push({
          time: chTime(at + 3000),
          ...id,
          hint_id: hintId,
          action,
          page_size_kb: action === 'promote' ? 2048 : 4,
          outcome,
          reason,
          errno,
          bytes_affected: outcome === 'applied' ? 0x20_0000 : 0,
          duration_ns: 120_000,
          at_ns: 3,
          cgroup: '',
          ...region,
          ...provenance(offset++),
        });
      }
    }
    deadLetters.push({
      time: chTime(start + 12 * MINUTE),
      host,
      topic: 'pageloop.events.v1',
      partition: 0,
      offset: 17 + h,
      consumer: 'sink',
      reason: 'protobuf: index out of range',
      key: host,
      raw: 'AAEC',
      source_time: chTime(start + 12 * MINUTE - 500),
      ...provenance(offset++),
    });
  }

  for (const [i, [host, threshold, oldValue, newValue, measured]] of (
    [
      ['', 'promote_net_min', 1.0, 1.2, 0.031],
      ['host-a', 'promote_net_min', 1.2, 1.1, 0.018],
      ['', 'page_out_idle_s', 30, 45, 0.031],
    ] as const
  ).entries()) {
    tuner.push({
      time: chTime(start + (6 + i * 9) * MINUTE),
      host,
      threshold,
      old_value: oldValue,
      new_value: newValue,
      objective: 'slowdown_fraction',
      measured,
      target: 0.02,
      at_ns: 1,
      scope: host,
      reason: measured > 0.02 ? 'objective missed' : 'objective met with room',
      ...provenance(offset++),
    });
  }

  const inserts: [string, Record<string, unknown>[]][] = [
    [TABLE.events, events],
    [TABLE.collectorBatches, batches],
    [TABLE.collectorLoss, loss],
    [TABLE.collectorDrops, drops],
    [TABLE.vmstat, vmstat],
    [TABLE.psi, psi],
    [TABLE.damonRegions, damon],
    [TABLE.scores, scores],
    [TABLE.phaseChanges, phases],
    [TABLE.hints, hints],
    [TABLE.hintActions, actions],
    [TABLE.tunerChanges, tuner],
    [TABLE.deadLetters, deadLetters],
    [TABLE.overhead, overhead],
    [TABLE.programCosts, programCosts],
  ];
  for (const [name, rows] of inserts) await ch.insert(name, rows);
  // A consumer that replayed re-sends its dead letters: new DLQ records, same bad records.
  await ch.insert(
    TABLE.deadLetters,
    deadLetters.map((d) => ({ ...d, kafka_offset: Number(d.kafka_offset) + 1_000_000 })),
  );
  return { from: start, to: end };
}
