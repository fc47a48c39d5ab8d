/**
 * Faults, summarised and raw: most of a real stream's events (and of the
 * benchmark's). They add up in the host's fault rows (fault-rows.ts) when
 * the region's row is bound to the event's window; else the direct way
 * into the region's acc, after which the row follows the region's newest
 * window.
 */
import type { TypedEventBlocks } from '../schemas/typed-decode.js';
import type { IngestContext } from './ingest-context.js';

/** Bits of a page fault's error code (the kernel's X86_PF_PROT, X86_PF_WRITE, X86_PF_INSTR). */
const PAGE_FAULT_PROT = 1;
const PAGE_FAULT_WRITE = 2;
const PAGE_FAULT_INSTR = 16;

/** Adds f faults (of them `writes` writes, `instrs` instruction fetches, `prots` protection faults) of window w to a region. */
export function countFaults(
  x: IngestContext,
  pid: number,
  startNs: number,
  regionStart: number,
  bytes: number,
  w: number,
  f: number,
  writes: number,
  instrs: number,
  prots: number,
): void {
  const rows = x.rows;
  const h = x.h;
  const key = regionStart / x.regionBytes;
  const at = rows.find(pid, startNs, key);
  const bound = at >= 0 && rows.boundTo(at, w);
  // byPid is state (checkpointed): processOf keeps it pointing at the process of each pid's last
  // event. When no two live processes share a pid, every pid already points at its only process.
  if (bound && h.processes.size === h.byPid.size) {
    rows.add(at, f, writes, instrs, prots);
    return;
  }
  const p = x.processOf(pid, startNs);
  if (bound) {
    rows.add(at, f, writes, instrs, prots);
    return;
  }
  // A row bound elsewhere still knows its region (no region Map lookup).
  const r = at >= 0 ? rows.regionAt(at) : x.regionOf(p, regionStart, bytes, w);
  const a = r.accW === w && r.accCur !== null ? r.accCur : x.accOf(r, w);
  a.events += f;
  a.faults += f;
  a.writeFaults += writes;
  a.instrFaults += instrs;
  a.protFaults += prots;
  if (w === r.firstWindow) a.firstTouchFaults += f;
  else a.accessFaults += f;
  rows.track(at, pid, startNs, key, r, w, a);
}

/**
 * Rows [from, to) of a fault summary block: the bulk of a real stream, so the columns are hoisted.
 * Sampled summaries (samplePeriod N > 1) arrive scaled (the kernel adds N per
 * sample): their counts are the estimates to use as they are, never multiplied again.
 */
export function ingestFaultSummaries(x: IngestContext, s: TypedEventBlocks['faultSummaries'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  const regionBytes = x.regionBytes;
  const lastNs = s.lastNs;
  const pids = s.pid;
  const starts = s.startNs;
  const regionStarts = s.regionStart;
  const sizes = s.regionBytes;
  const faults = s.faults;
  const writes = s.writeFaults;
  const instrs = s.instrFaults;
  const prots = s.protFaults;
  const exited = s.exited;
  for (let i = from; i < to; i++) {
    // A row with no faults only says its process exited: nothing to count,
    // and not an event (its time is the process's last fault, often late).
    if (faults[i]! > 0) {
      const w = gate.admit(h, lastNs[i]!);
      if (w >= 0) countFaults(x, pids[i]!, starts[i]!, regionStarts[i]!, sizes[i]! || regionBytes, w, faults[i]!, writes[i]!, instrs[i]!, prots[i]!);
    }
    // Even when its counts came late: the process is gone either way.
    if (exited[i]) {
      const p = x.knownProcess(pids[i]!, starts[i]!);
      if (p) p.exited = true;
    }
  }
}

/** Rows [from, to) of a raw fault block. */
export function ingestFaults(x: IngestContext, s: TypedEventBlocks['faults'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  const weights = s.sampleWeight;
  for (let i = from; i < to; i++) {
    const w = gate.admit(h, s.h.tsNs[i]!);
    if (w < 0) continue;
    const code = s.errorCode[i]!;
    // Raw mode reporting 1 fault in N (faultSampleEvery) sends each with weight N: it stands for N faults, as in the sink.
    const n = weights.length === 0 ? 1 : weights[i]! || 1;
    const write = code & PAGE_FAULT_WRITE ? n : 0;
    const instr = code & PAGE_FAULT_INSTR ? n : 0;
    const prot = code & PAGE_FAULT_PROT ? n : 0;
    countFaults(x, s.h.pid[i]!, s.h.startNs[i]!, x.regionStartOf(s.address[i]!), x.regionBytes, w, n, write, instr, prot);
  }
}
