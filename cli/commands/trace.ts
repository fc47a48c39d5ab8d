import type { Command } from '../command.js';
import { flagBoolean, flagList, flagNumber, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { untilStopped } from '../run-until.js';
import { PROBE_MODE_FLAGS, parseFamilies, parseProbeModes, parsePids } from '../targets-flags.js';
import type { LossReport } from '../../bpf/probes.js';
import { loadProbes } from '../../deploy/pipeline.js';
import { FAMILIES, FAMILY_OF, eventToJson, type FamilyName, type ProbeEvent } from '../../bpf/events.js';

const flags: FlagSpec[] = [
  { name: 'pid', kind: 'list', help: 'only these processes (repeat or comma-separate)' },
  { name: 'cgroup', kind: 'list', help: 'only processes in these cgroup v2 paths' },
  { name: 'events', kind: 'list', help: `families to trace: ${FAMILIES.join(',')} (default: all)` },
  { name: 'duration', kind: 'number', help: 'stop after this many seconds (default: until Ctrl-C)' },
  { name: 'json', kind: 'boolean', help: 'one JSON object per line, then one summary line' },
  ...PROBE_MODE_FLAGS,
  { name: 'sample', kind: 'number', help: 'raw fault mode: report 1 fault in N' },
  { name: 'swap-entries', kind: 'boolean', help: 'also trace rss_stat MM_SWAPENTS changes (costly: fires on every fault)' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'Trace memory-management events live from the kernel, with no Kafka.';

function pageSize(order: number): string {
  const kb = 4 << order;
  return kb >= 1024 ? `${kb / 1024}M` : `${kb}K`;
}

/** One human-readable line per event, like a libbpf tool. */
export function formatEvent(e: ProbeEvent): string {
  const hex = (n: number) => '0x' + n.toString(16);
  if (e.type === 'fault_summary') {
    return `${'fault_summary'.padEnd(16)} pid=${e.pid} region=${hex(e.regionStart)} faults=${e.faults} write=${e.writeFaults}`;
  }
  const head = `${e.type.padEnd(16)} pid=${e.h.pid} tid=${e.h.tid} cpu=${e.h.cpu}`;
  switch (e.type) {
    case 'fault':
      return `${head} addr=${hex(e.address)} ip=${hex(e.ip)} err=${e.errorCode}`;
    case 'promotion':
      return `${head} addr=${hex(e.address)} size=${pageSize(e.order)}${e.failed ? ' FALLBACK' : ''}`;
    case 'collapse':
      return `${head} status=${e.status} by=${e.callerComm}(${e.callerPid})`;
    case 'compaction':
      return `${head} comm=${e.comm} order=${e.order} status=${e.status} ${(e.durationNs / 1e3).toFixed(1)}us migrate_scanned=${e.migrateScanned}`;
    case 'compaction_defer':
      return `${head} order=${e.order} node=${e.node} ${e.defer ? 'deferred' : 'skipped'}`;
    case 'kcompactd_wake':
      return `${head} node=${e.node} order=${e.order}`;
    case 'swap_out':
      return `${head} addr=${hex(e.address)} pages=${e.pages} by=${e.reclaimerPid}`;
    case 'swap_in':
      return `${head} addr=${hex(e.address)} backing=${['?', 'anon', 'file'][e.backing] ?? e.backing}`;
    case 'swap_entries':
      return `${head} swap_entries=${e.count}`;
    case 'reclaim':
      return `${head} ${(e.durationNs / 1e3).toFixed(1)}us reclaimed=${e.nrReclaimed}`;
    case 'bench':
      return `${head} seq=${e.seq}`;
  }
}

export interface TraceSummary {
  events: number;
  perFamily: Record<FamilyName, number>;
  faultsCounted: number;
  loss: LossReport;
  durationMs: number;
}

export const traceCommand: Command = {
  name: 'trace',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('trace [flags]', SUMMARY, flags));
      return 0;
    }
    const families = parseFamilies(flagList(args, 'events'), true);
    const modes = parseProbeModes(args);
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const json = flagBoolean(args, 'json');

    const probes = loadProbes({
      families,
      targets: { pids: parsePids(flagList(args, 'pid')), cgroups: flagList(args, 'cgroup') },
      ...modes,
      faultSampleEvery: flagNumber(args, 'sample') ?? 1,
      swapEntries: flagBoolean(args, 'swap-entries'),
    });

    const perFamily = Object.fromEntries(FAMILIES.map((f) => [f, 0])) as Record<FamilyName, number>;
    let events = 0;
    let faultsCounted = 0;
    const started = Date.now();
    const out = process.stdout;
    out.on('error', () => undefined); // a closed pipe ends output, not the trace's cleanup

    probes.start({
      onEvents(batch) {
        const lines: string[] = [];
        for (const e of batch) {
          const family = FAMILY_OF[e.type];
          if (family === 'bench') continue;
          events++;
          perFamily[family]++;
          if (e.type === 'fault') faultsCounted += e.sampleWeight;
          else if (e.type === 'fault_summary') faultsCounted += e.faults;
          lines.push(json ? JSON.stringify(eventToJson(e)) : formatEvent(e));
        }
        if (lines.length > 0) out.write(lines.join('\n') + '\n');
      },
    });
    {
      // Always on stderr, also with --json: it tells a caller the probes are attached.
      const who = probes.targets.mode === 'all' ? 'all processes' : probes.targets.mode === 'pids' ? `pids ${probes.targets.pids.join(',')}` : `cgroups ${probes.targets.cgroupPaths.join(',')}`;
      console.error(`tracing ${families.join(',')} for ${who}${duration ? ` for ${duration}s` : ''}; Ctrl-C to stop`);
    }

    await untilStopped(duration);

    probes.stop();
    const summary: TraceSummary = { events, perFamily, faultsCounted, loss: probes.loss(), durationMs: Date.now() - started };
    if (json) {
      out.write(JSON.stringify({ type: 'summary', ...summary }) + '\n');
    } else {
      const counts = FAMILIES.map((f) => `${f}=${perFamily[f]}`).join(' ');
      const lossPerCpu = FAMILIES.map((f) => `${f}:[${summary.loss.perFamily[f].join(',')}]`).join(' ');
      console.error(`\n${events} events (${counts}); faults counted ${faultsCounted}; lost ${summary.loss.total} (per CPU: ${lossPerCpu})`);
    }
    return 0;
  },
};
