/**
 * The ClickHouse tables of pageloop (database `pageloop`), as versioned
 * migrations for clickhouse/migrations.ts. `pageloop sink` applies
 * them; Grafana panels (dashboards/) read them. This list is the schema of
 * the whole database: a later change is a new migration appended here,
 * never an edit of an applied one (the checksum would refuse it).
 *
 * Over 600 lines on purpose: it is a declaration (each migration's DDL in
 * the order it was applied), and splitting it would scatter one schema's
 * history over files that must still be read in order.
 *
 * Conventions, every table:
 *   - `time DateTime64(3, 'UTC')` is the wall-clock column Grafana filters
 *     on ($__timeFilter(time)); `*_ns` columns are CLOCK_BOOTTIME ns of the
 *     host, as on the wire (exact, per boot, useless across hosts).
 *     Wall time for events: the collector stamps each Kafka record with the
 *     wall clock when it sends the batch, so the batch's newest event is put
 *     at the record timestamp and every other event by its boottime distance
 *     from it: time = record_ts_ms - (batch.last_event_ns - ts_ns) / 1e6.
 *     Error: how long the batch waited before it was sent (batch linger,
 *     queueing; typically under a second). It is a pure function of the
 *     record, so a replay computes the same value (Kafka keeps the timestamp).
 *     Derived topics (scores, phases, hints, actions, tuner, dlq): time is
 *     the record's Kafka timestamp.
 *   - identity: `host`, and for anything about a process `boot_id`, `pid`,
 *     `start_ns` (a process is never a bare pid).
 *   - provenance: `kafka_partition`, `kafka_offset` of the record the row
 *     came from (several rows may share one: an EventBatch holds many
 *     events). Together with the topic (implied by the table) they name the
 *     record, so any row can be traced back and replayed.
 *   - no column is computed from the insert's wall clock: a replayed block
 *     must be byte-identical so insert deduplication recognises it.
 *   - every MergeTree keeps `non_replicated_deduplication_window` block
 *     hashes: the sink inserts each block with a deduplication token made
 *     of topic/partition/offset range/table, so a restart or a replay of the
 *     last DEDUP_WINDOW_BLOCKS blocks per table never doubles a row. Rollup
 *     targets keep it too: the sink sets
 *     deduplicate_blocks_in_dependent_materialized_views=1.
 *
 * Longer than the usual 600 lines on purpose: it is the one list of every
 * table of the database, and applied migrations are never moved or edited.
 *
 * Rollup tables are SummingMergeTree: rows with the same key are summed
 * when parts merge, not at insert, so always query them with sum() and
 * GROUP BY (never read a rollup row as final).
 */

/** A numbered step of the table contract; clickhouse/migrations.ts applies them in order. */
export interface Migration {
  /** 1, 2, 3, ...: the order they apply in, never reused. */
  readonly version: number;
  /** Short description, recorded with the version. */
  readonly name: string;
  /** One statement each (the HTTP interface runs one per request). */
  readonly statements: readonly string[];
}

export const DATABASE = 'pageloop';

/** Blocks (inserts, per table) whose tokens are remembered: the replay horizon of exactly-once. */
export const DEDUP_WINDOW_BLOCKS = 100_000;

/** Default TTL of the raw event tables (events, damon_regions); `pageloop sink --raw-ttl-days` changes it. */
export const DEFAULT_RAW_TTL_DAYS = 30;

/** Address bits below the rollup region size: 2 MiB, the collector's default region_shift (21). */
export const ROLLUP_REGION_SHIFT = 21;

export const TABLE = {
  events: 'events',
  regionMinute: 'region_minute',
  compactionRuns: 'compaction_runs',
  collectorBatches: 'collector_batches',
  collectorLoss: 'collector_loss',
  collectorDrops: 'collector_drops',
  vmstat: 'vmstat',
  psi: 'psi',
  damonRegions: 'damon_regions',
  scores: 'scores',
  scoreSizes: 'score_sizes',
  phaseChanges: 'phase_changes',
  hints: 'hints',
  hintActions: 'hint_actions',
  tunerChanges: 'tuner_changes',
  deadLetters: 'dead_letters',
  sinkBlocks: 'sink_blocks',
  // Overhead accounting (migration 3).
  overhead: 'overhead',
  programCosts: 'program_costs',
} as const;

export type TableName = (typeof TABLE)[keyof typeof TABLE];

const DEDUP = `non_replicated_deduplication_window = ${DEDUP_WINDOW_BLOCKS}`;

/** The reusable, ASLR-proof region name, e.g. `anon:0+0x200000` or `file:/usr/lib/libc.so.6+0x0`; '' without a region. */
const REGION_NAME_SQL =
  "if(mapping_kind IN ('', 'unspecified'), '', concat(mapping_kind, ':', if(mapping_path != '', mapping_path, toString(mapping_ordinal)), '+0x', replaceRegexpOne(lower(hex(region_offset)), '^0+(.)', '\\\\1')))";

/** The columns that name a region (wire Region), with its materialized name. */
const REGION_COLUMNS = `
  mapping_kind LowCardinality(String),
  mapping_path String,
  mapping_ordinal UInt32,
  region_offset UInt64,
  region_start UInt64,
  region_length UInt64,
  region String MATERIALIZED ${REGION_NAME_SQL}`;

const PROVENANCE = `
  kafka_partition UInt32,
  kafka_offset UInt64`;

const PROCESS = `
  host LowCardinality(String),
  boot_id LowCardinality(String),
  pid UInt32,
  start_ns UInt64`;

const V1: readonly string[] = [
  // Raw events, one row per event of every type (wide: the union of the
  // event fields; a field a type lacks is 0 or ''). Serves the drill-down
  // panels ("faults of pid X around this time", "the promotions that
  // failed") and is the source of every rollup below. `weight` is how many
  // kernel events the row stands for (a sampled fault: its sample weight; a
  // fault summary: its fault count; anything else 1); `write_faults`,
  // `instr_faults`, `prot_faults` are the part of `weight` with that error
  // bit, so sum() of any of them counts faults whatever the collector mode.
  // Fault summaries put their region start in `address`.
  `CREATE TABLE IF NOT EXISTS events (
    time DateTime64(3, 'UTC'),
    ts_ns UInt64,
    host LowCardinality(String),
    boot_id LowCardinality(String),
    type LowCardinality(String),
    pid UInt32,
    start_ns UInt64,
    tid UInt32,
    cpu UInt16,
    hint UInt32,
    address UInt64,
    region_bytes UInt64,
    weight UInt64,
    write_faults UInt64,
    instr_faults UInt64,
    prot_faults UInt64,
    ip UInt64,
    error_code UInt32,
    first_ns UInt64,
    fault_ns UInt64,
    page_order Int32,
    gfp UInt32,
    failed UInt8,
    migratetype Int32,
    status Int32,
    isolated UInt32,
    caller_pid UInt32,
    comm LowCardinality(String),
    duration_ns UInt64,
    zone_start_pfn UInt64,
    zone_end_pfn UInt64,
    migrate_scanned UInt64,
    free_scanned UInt64,
    sync UInt8,
    direct UInt8,
    proactive UInt8,
    kthread UInt8,
    node UInt32,
    considered UInt32,
    defer_shift UInt32,
    order_failed Int32,
    defer UInt8,
    zone_type UInt32,
    pages UInt32,
    anon UInt8,
    reclaimer_pid UInt32,
    backing UInt8,
    swap_entries Int64,
    nr_reclaimed UInt64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMMDD(time)
  ORDER BY (host, type, pid, time)
  TTL toDateTime(time) + INTERVAL ${DEFAULT_RAW_TTL_DAYS} DAY
  SETTINGS ${DEDUP}, ttl_only_drop_parts = 1`,

  // Per-region rollup by minute: the heat-map and "top regions" panels
  // (faults, write faults, promotions by page size, fallbacks, swap-outs,
  // swap-ins per host/process/region/minute). Regions of raw events are
  // their address's 2 MiB block; fault summaries keep their own region.
  // A fallback is a huge-page/mTHP allocation that failed in a fault.
  `CREATE TABLE IF NOT EXISTS region_minute (
    minute DateTime('UTC'),${PROCESS},
    region_start UInt64,
    faults UInt64,
    write_faults UInt64,
    promotions UInt64,
    promotions_64k UInt64,
    promotions_2m UInt64,
    promoted_bytes UInt64,
    fallbacks UInt64,
    swap_outs UInt64,
    swap_out_pages UInt64,
    swap_ins UInt64,
    major_faults UInt64
  ) ENGINE = SummingMergeTree
  PARTITION BY toYYYYMM(minute)
  ORDER BY (host, minute, boot_id, pid, start_ns, region_start)
  TTL minute + INTERVAL 400 DAY
  SETTINGS ${DEDUP}`,

  `CREATE MATERIALIZED VIEW IF NOT EXISTS region_minute_mv TO region_minute AS
  SELECT
    toStartOfMinute(time) AS minute,
    host, boot_id, pid, start_ns,
    if(type = 'fault_summary', address, bitShiftLeft(bitShiftRight(address, ${ROLLUP_REGION_SHIFT}), ${ROLLUP_REGION_SHIFT})) AS region_start,
    sumIf(weight, type IN ('fault', 'fault_summary')) AS faults,
    sumIf(write_faults, type IN ('fault', 'fault_summary')) AS write_faults,
    countIf(type = 'promotion' AND failed = 0) AS promotions,
    countIf(type = 'promotion' AND failed = 0 AND page_order = 4) AS promotions_64k,
    countIf(type = 'promotion' AND failed = 0 AND page_order = 9) AS promotions_2m,
    sumIf(bitShiftLeft(toUInt64(4096), page_order), type = 'promotion' AND failed = 0) AS promoted_bytes,
    countIf(type = 'promotion' AND failed != 0) AS fallbacks,
    countIf(type = 'swap_out') AS swap_outs,
    sumIf(toUInt64(pages), type = 'swap_out') AS swap_out_pages,
    countIf(type = 'swap_in' AND backing != 2) AS swap_ins,
    countIf(type = 'swap_in') AS major_faults
  FROM events
  WHERE type IN ('fault', 'fault_summary', 'promotion', 'swap_out', 'swap_in')
  GROUP BY minute, host, boot_id, pid, start_ns, region_start`,

  // One row per compact_zone() run: the compaction latency panel
  // (duration histogram, who stalled, direct vs kcompactd vs proactive).
  // Kept a year, past the raw events' TTL: runs are few and the trend matters.
  `CREATE TABLE IF NOT EXISTS compaction_runs (
    time DateTime64(3, 'UTC'),
    ts_ns UInt64,${PROCESS},
    comm LowCardinality(String),
    duration_ns UInt64,
    page_order Int32,
    status Int32,
    sync UInt8,
    direct UInt8,
    proactive UInt8,
    kthread UInt8,
    zone_start_pfn UInt64,
    zone_end_pfn UInt64,
    migrate_scanned UInt64,
    free_scanned UInt64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, time)
  TTL toDateTime(time) + INTERVAL 365 DAY
  SETTINGS ${DEDUP}`,

  `CREATE MATERIALIZED VIEW IF NOT EXISTS compaction_runs_mv TO compaction_runs AS
  SELECT time, ts_ns, host, boot_id, pid, start_ns, comm, duration_ns, page_order, status,
         sync, direct, proactive, kthread, zone_start_pfn, zone_end_pfn, migrate_scanned, free_scanned,
         kafka_partition, kafka_offset
  FROM events
  WHERE type = 'compaction'`,

  // One row per EventBatch record: the fleet overview (events per family
  // per host over time, batch sizes, sequence gaps = lost batches:
  // max(sequence) + 1 - count() per collector_id). `time` is the record
  // timestamp (when the collector sent it).
  `CREATE TABLE IF NOT EXISTS collector_batches (
    time DateTime64(3, 'UTC'),
    host LowCardinality(String),
    boot_id LowCardinality(String),
    collector_id String,
    sequence UInt64,
    first_event_ns UInt64,
    last_event_ns UInt64,
    events UInt32,
    fault_events UInt32,
    promotion_events UInt32,
    collapse_events UInt32,
    compaction_events UInt32,
    swap_events UInt32,
    vmstat_samples UInt32,
    psi_samples UInt32,
    damon_regions UInt32,
    record_bytes UInt32,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, time, collector_id, sequence)
  TTL toDateTime(time) + INTERVAL 365 DAY
  SETTINGS ${DEDUP}`,

  // Ring-buffer records lost, per collector run, family and CPU: the
  // "loss per CPU" panel. `lost` is cumulative since the collector started
  // (as on the wire), so the panel takes max(lost) per (collector_id,
  // family, cpu), or its increase over a time bucket. Only non-zero
  // counters get rows: no row means nothing lost.
  `CREATE TABLE IF NOT EXISTS collector_loss (
    time DateTime64(3, 'UTC'),
    host LowCardinality(String),
    boot_id LowCardinality(String),
    collector_id String,
    sequence UInt64,
    family LowCardinality(String),
    cpu UInt16,
    lost UInt64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, collector_id, family, cpu, time)
  TTL toDateTime(time) + INTERVAL 365 DAY
  SETTINGS ${DEDUP}`,

  // Events the collector dropped from its own queue (cumulative per
  // collector run and family or sampler; non-zero only): the "drops" panel.
  `CREATE TABLE IF NOT EXISTS collector_drops (
    time DateTime64(3, 'UTC'),
    host LowCardinality(String),
    boot_id LowCardinality(String),
    collector_id String,
    sequence UInt64,
    family LowCardinality(String),
    dropped UInt64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, collector_id, family, time)
  TTL toDateTime(time) + INTERVAL 365 DAY
  SETTINGS ${DEDUP}`,

  // /proc/vmstat deltas, one row per (sample, counter): the kernel counter
  // panels (thp_fault_alloc, compact_stall, pswpout... per host over time).
  `CREATE TABLE IF NOT EXISTS vmstat (
    time DateTime64(3, 'UTC'),
    ts_ns UInt64,
    host LowCardinality(String),
    boot_id LowCardinality(String),
    interval_ns UInt64,
    name LowCardinality(String),
    delta Int64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, name, time)
  TTL toDateTime(time) + INTERVAL 90 DAY
  SETTINGS ${DEDUP}`,

  // Memory PSI per host or cgroup ('' = whole host): the pressure panel.
  `CREATE TABLE IF NOT EXISTS psi (
    time DateTime64(3, 'UTC'),
    ts_ns UInt64,
    host LowCardinality(String),
    boot_id LowCardinality(String),
    cgroup String,
    some_avg10 Float64,
    some_avg60 Float64,
    some_avg300 Float64,
    some_total_us UInt64,
    full_avg10 Float64,
    full_avg60 Float64,
    full_avg300 Float64,
    full_total_us UInt64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, cgroup, time)
  TTL toDateTime(time) + INTERVAL 90 DAY
  SETTINGS ${DEDUP}`,

  // DAMON regions (damon:damon_aggregated): the access-frequency heat map.
  // Raw volume, so the raw TTL.
  `CREATE TABLE IF NOT EXISTS damon_regions (
    time DateTime64(3, 'UTC'),
    ts_ns UInt64,${PROCESS},
    region_start UInt64,
    region_end UInt64,
    nr_accesses UInt32,
    age UInt32,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMMDD(time)
  ORDER BY (host, pid, time)
  TTL toDateTime(time) + INTERVAL ${DEFAULT_RAW_TTL_DAYS} DAY
  SETTINGS ${DEDUP}, ttl_only_drop_parts = 1`,

  // One row per RegionScore, page sizes as parallel arrays (size_kb[i] has
  // benefit[i], cost[i], net[i]): "what does the scorer think of region R",
  // the preferred-size panel, and the access stats behind a score.
  `CREATE TABLE IF NOT EXISTS scores (
    time DateTime64(3, 'UTC'),${PROCESS},
    executable String,
    comm LowCardinality(String),${REGION_COLUMNS},
    window_start_ns UInt64,
    window_end_ns UInt64,
    preferred_size_kb UInt32,
    size_kb Array(UInt32),
    benefit Array(Float64),
    cost Array(Float64),
    net Array(Float64),
    faults UInt64,
    write_faults UInt64,
    instr_faults UInt64,
    prot_faults UInt64,
    major_faults UInt64,
    promotions UInt64,
    promotion_failures UInt64,
    collapses UInt64,
    swap_outs UInt64,
    damon_accesses Float64,
    touched_bytes UInt64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, pid, start_ns, time)
  TTL toDateTime(time) + INTERVAL 180 DAY
  SETTINGS ${DEDUP}`,

  // scores flattened, one row per (RegionScore, page size): the "benefit vs
  // cost by page size" time series without ARRAY JOIN in every panel.
  `CREATE TABLE IF NOT EXISTS score_sizes (
    time DateTime64(3, 'UTC'),${PROCESS},
    comm LowCardinality(String),${REGION_COLUMNS},
    window_end_ns UInt64,
    preferred_size_kb UInt32,
    size_kb UInt32,
    benefit Float64,
    cost Float64,
    net Float64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, size_kb, pid, start_ns, time)
  TTL toDateTime(time) + INTERVAL 180 DAY
  SETTINGS ${DEDUP}`,

  `CREATE MATERIALIZED VIEW IF NOT EXISTS score_sizes_mv TO score_sizes AS
  SELECT time, host, boot_id, pid, start_ns, comm,
         mapping_kind, mapping_path, mapping_ordinal, region_offset, region_start, region_length,
         window_end_ns, preferred_size_kb,
         size_kb, benefit, cost, net,
         kafka_partition, kafka_offset
  FROM scores
  ARRAY JOIN size_kb, benefit, cost, net`,

  // Application phase changes: annotations on every per-process panel, and
  // the phase timeline (before/after summaries flattened).
  `CREATE TABLE IF NOT EXISTS phase_changes (
    time DateTime64(3, 'UTC'),${PROCESS},
    at_ns UInt64,
    phase UInt32,
    distance Float64,
    reason String,
    before_hot_set_hash UInt64,
    before_hot_regions UInt32,
    before_hot_bytes UInt64,
    before_fault_rate Float64,
    before_major_fault_rate Float64,
    before_promotion_rate Float64,
    before_swap_out_rate Float64,
    after_hot_set_hash UInt64,
    after_hot_regions UInt32,
    after_hot_bytes UInt64,
    after_fault_rate Float64,
    after_major_fault_rate Float64,
    after_promotion_rate Float64,
    after_swap_out_rate Float64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, pid, start_ns, time)
  SETTINGS ${DEDUP}`,

  // Every hint the planner published (the topic is compacted; this is the
  // full history): "what did we ask for, when, why". withdrawn = 1 is a
  // tombstone on the topic (the host's plan was withdrawn); its host comes
  // from the record key and the other columns are empty.
  `CREATE TABLE IF NOT EXISTS hints (
    time DateTime64(3, 'UTC'),${PROCESS},
    hint_id String,
    action LowCardinality(String),
    page_size_kb UInt32,
    score Float64,
    reason String,
    issued_ns UInt64,
    expires_ns UInt64,
    cgroup String,
    bytes UInt64,${REGION_COLUMNS},
    withdrawn UInt8,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, time, hint_id)
  SETTINGS ${DEDUP}`,

  // What the feedback agents did with each hint (applied, refused, failed,
  // dry run) and why: the actions panel and the audit trail; joins hints
  // on hint_id.
  `CREATE TABLE IF NOT EXISTS hint_actions (
    time DateTime64(3, 'UTC'),${PROCESS},
    hint_id String,
    action LowCardinality(String),
    page_size_kb UInt32,
    outcome LowCardinality(String),
    reason String,
    errno Int32,
    bytes_affected UInt64,
    duration_ns UInt64,
    at_ns UInt64,
    cgroup String,${REGION_COLUMNS},${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, time, hint_id)
  SETTINGS ${DEDUP}`,

  // Threshold moves of the tuner (pageloop.tuner.v1): annotations and the
  // "threshold vs objective" panel. host is the change's scope ('' = fleet).
  `CREATE TABLE IF NOT EXISTS tuner_changes (
    time DateTime64(3, 'UTC'),
    host LowCardinality(String),
    threshold LowCardinality(String),
    old_value Float64,
    new_value Float64,
    objective LowCardinality(String),
    measured Float64,
    target Float64,
    at_ns UInt64,
    scope String,
    reason String,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (threshold, time)
  SETTINGS ${DEDUP}`,

  // Malformed records from every consumer (pageloop.dlq.v1): the "bad
  // input" panel. host is the bad record's key read as text (the topics
  // are keyed by host name); raw holds its value as it was. Keyed by the
  // bad record (topic, partition, offset, consumer) and replacing: a
  // consumer that replays sends its dead letters again, and FINAL (or
  // uniqExact over the key) counts each bad record once.
  `CREATE TABLE IF NOT EXISTS dead_letters (
    time DateTime64(3, 'UTC'),
    host LowCardinality(String),
    topic LowCardinality(String),
    partition Int32,
    offset Int64,
    consumer LowCardinality(String),
    reason String,
    key String,
    raw String,
    source_time DateTime64(3, 'UTC'),${PROVENANCE}
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMM(source_time)
  ORDER BY (topic, partition, offset, consumer)
  TTL toDateTime(time) + INTERVAL 90 DAY
  SETTINGS ${DEDUP}`,

  // The sink's own ledger, not for panels: the offset range of every block
  // it cut, written before the block's rows. A restart or a replay cuts the
  // same ranges again, so each block comes back with the same rows and the
  // same deduplication token (see sink/blocks.ts).
  `CREATE TABLE IF NOT EXISTS sink_blocks (
    topic LowCardinality(String),
    partition UInt32,
    first_offset UInt64,
    last_offset UInt64,
    records UInt32
  ) ENGINE = ReplacingMergeTree
  ORDER BY (topic, partition, first_offset)
  SETTINGS ${DEDUP}`,
];

// ---------------------------------------------------------------------------
// Migration 3: overhead accounting (EventBatch.overhead and program_costs,
// collectors/overhead.ts). Deltas per collector interval, so sums over any
// time range and any set of hosts stay right; the dashboards compute the
// model's figures from them (ns per run = sum(run_time_ns) / sum(run_count),
// fault-path CPU share = sum(fault-path run_time_ns) / sum(interval_ns × cpus)).
// ---------------------------------------------------------------------------
const V3_OVERHEAD: readonly string[] = [
  // One row per host per interval: the agent's CPU, the host's faults and
  // busy time, and whether program run times were kept (stats_enabled 0:
  // the interval has no program_costs rows).
  `CREATE TABLE IF NOT EXISTS overhead (
    time DateTime64(3, 'UTC'),
    ts_ns UInt64,
    host LowCardinality(String),
    boot_id LowCardinality(String),
    collector_id String,
    interval_ns UInt64,
    cpus UInt32,
    stats_enabled UInt8,
    agent_cpu_ns UInt64,
    host_faults UInt64,
    host_busy_ns UInt64,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, time)
  TTL toDateTime(time) + INTERVAL 90 DAY
  SETTINGS ${DEDUP}`,

  // One row per BPF program that ran in the interval (bpf_prog_info run_cnt
  // and run_time_ns deltas); fault_path 1 for the programs the slowdown model
  // counts. cpus and interval_ns repeat the interval's so a panel needs no join.
  `CREATE TABLE IF NOT EXISTS program_costs (
    time DateTime64(3, 'UTC'),
    ts_ns UInt64,
    host LowCardinality(String),
    boot_id LowCardinality(String),
    collector_id String,
    program LowCardinality(String),
    fault_path UInt8,
    run_count UInt64,
    run_time_ns UInt64,
    interval_ns UInt64,
    cpus UInt32,${PROVENANCE}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (host, program, time)
  TTL toDateTime(time) + INTERVAL 90 DAY
  SETTINGS ${DEDUP}`,
];

/** The database's migrations, in order. Append; never edit an applied one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'sink tables, rollups and the block ledger', statements: V1 },
  {
    version: 2,
    name: 'events.sample_period: a fault count sampled 1 in N',
    statements: [
      // 1: the row's counts are exact; N: faults were sampled one in N and
      // `weight` and its parts are already scaled estimates (a sampling
      // collector's fault summaries; a raw fault: its sample weight). Rows
      // from before this column read 1: they were exact.
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS sample_period UInt32 DEFAULT 1 AFTER weight`,
    ],
  },
  { version: 3, name: 'overhead accounting: overhead and program_costs', statements: V3_OVERHEAD },
  {
    version: 4,
    name: 'events.exited: a fault summary that is its process\'s last',
    statements: [
      // 1: the process had exited by the collector's sweep, so the row's
      // counts are its last (with weight 0 the row only says so). Every
      // other row, and rows from before this column, read 0.
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS exited UInt8 DEFAULT 0 AFTER sample_period`,
    ],
  },
];

/** The TTL clause of a raw table for `days` (used to move the TTL off its default). */
export function rawTtlStatement(table: typeof TABLE.events | typeof TABLE.damonRegions, days: number): string {
  return `ALTER TABLE ${table} MODIFY TTL toDateTime(time) + INTERVAL ${days} DAY`;
}
