/**
 * The chaos run's synthetic load: a few made-up hosts, each with its own
 * collector id and sequence numbers 0..n, sending EventBatch records
 * through the collector's own producer (collectors/kafka-producer.ts: an
 * idempotent kafkajs producer, a fresh one after a failed send). Like the
 * collector, a batch whose send failed is sent again, in order, until it is
 * acknowledged; the ledger then expects every acknowledged sequence in
 * ClickHouse exactly once.
 */
import type { Kafka } from 'kafkajs';
import type { ProbeEvent } from '../../bpf/events.js';
import { createKafkaEventsProducer } from '../../collectors/kafka-producer.js';
import { CollectorStream, SEC, compaction, faultSummary, promotion, rawFault, swapOut } from '../../processors/synthetic.js';
import { TOPIC } from '../../schemas/topics.js';
import { prng } from '../../lib/prng.js';

const MB2 = 2 * 1024 * 1024;

export interface SyntheticHostLedger {
  readonly host: string;
  readonly collectorId: string;
  /** Sequences whose send was acknowledged, in order. */
  readonly acked: number[];
  /** Events in the acknowledged batches. */
  ackedEvents: number;
  /** Sends that failed and were retried. */
  failedSends: number;
  /** Batches generated but not yet acknowledged. */
  queued: number;
}

export interface SyntheticLoad {
  readonly hosts: readonly SyntheticHostLedger[];
  /** Stops generating; resolves once every generated batch is acknowledged (or `timeoutMs` passes). */
  stop(timeoutMs: number): Promise<void>;
  /**
   * The clock-jump fault: host `hostIndex`'s event times move by `deltaNs`
   * from its next batch on (a host whose clock was stepped, e.g. by NTP):
   * backwards makes its events late for windows already closed.
   */
  jump(hostIndex: number, deltaNs: number): void;
}

export interface SyntheticOptions {
  readonly seed: number;
  readonly hosts: number;
  readonly eventsPerSecond: number;
  readonly batchEvents: number;
}

function batchEvents(rnd: () => number, t0: number, n: number, hostIndex: number): ProbeEvent[] {
  const ev: ProbeEvent[] = [];
  for (let i = 0; i < n; i++) {
    const p = Math.floor(rnd() * 8);
    const pid = 10_000 + hostIndex * 100 + p;
    const start = 1e9 + p;
    const region = 0x7f0000000000 + Math.floor(rnd() * 32) * MB2;
    const t = t0 + Math.floor((i / n) * SEC);
    const x = rnd();
    if (x < 0.9) ev.push(faultSummary(t, pid, start, region, 1 + Math.floor(rnd() * 8)));
    else if (x < 0.96) ev.push(rawFault(t, pid, start, region + Math.floor(rnd() * 512) * 4096));
    else if (x < 0.99) ev.push(promotion(t, pid, start, region, 9, rnd() < 0.1));
    else ev.push(swapOut(t, pid, start, region + Math.floor(rnd() * 512) * 4096));
  }
  ev.push(compaction(t0 + SEC / 2, 2_000_000, 9, true));
  return ev;
}

export function startSyntheticLoad(kafka: Kafka, o: SyntheticOptions): SyntheticLoad {
  const rnd = prng(o.seed ^ 0x5eed);
  const perHostBatchesPerSec = o.eventsPerSecond / o.hosts / (o.batchEvents + 1);
  const intervalMs = 1000 / perHostBatchesPerSec;
  let generating = true;
  const loops: Promise<void>[] = [];
  const ledgers: SyntheticHostLedger[] = [];
  const wakers: Array<() => void> = [];
  const jumps: Array<(deltaNs: number) => void> = [];
  for (let h = 0; h < o.hosts; h++) {
    const host = `chaos-syn-${h}`;
    const collectorId = `chaos-syn-${h}-seed${o.seed}-${Date.now()}`;
    const stream = new CollectorStream(host, `boot-chaos-${h}`, collectorId);
    const ledger: SyntheticHostLedger = { host, collectorId, acked: [], ackedEvents: 0, failedSends: 0, queued: 0 };
    ledgers.push(ledger);
    const queue: Array<{ seq: number; value: Uint8Array; events: number }> = [];
    let seq = 0;
    let eventNs = 2000 * SEC;
    let wake: () => void = () => undefined;
    wakers.push(() => wake());
    jumps.push((d) => {
      eventNs = Math.max(SEC, eventNs + d);
    });
    const timer = setInterval(() => {
      if (!generating) return;
      const ev = batchEvents(rnd, eventNs, o.batchEvents, h);
      eventNs += Math.floor(intervalMs * 1e6);
      queue.push({ seq: seq++, value: stream.batch(ev), events: ev.length });
      ledger.queued = queue.length;
      wake();
    }, intervalMs);
    const producer = createKafkaEventsProducer(kafka, { compression: 'gzip', sendTimeoutMs: 5000 });
    loops.push(
      (async () => {
        let backoff = 0;
        for (;;) {
          const next = queue[0];
          if (!next) {
            if (!generating) break;
            await new Promise<void>((r) => (wake = r));
            continue;
          }
          try {
            await producer.send(TOPIC.events, host, Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength), Date.now());
            queue.shift();
            ledger.queued = queue.length;
            ledger.acked.push(next.seq);
            ledger.ackedEvents += next.events;
            backoff = 0;
          } catch {
            ledger.failedSends++;
            backoff = Math.min(2000, backoff ? backoff * 2 : 100);
            await new Promise((r) => setTimeout(r, backoff));
          }
        }
        clearInterval(timer);
        await producer.close().catch(() => undefined);
      })(),
    );
  }
  return {
    hosts: ledgers,
    jump(hostIndex, deltaNs) {
      jumps[hostIndex]?.(deltaNs);
    },
    async stop(timeoutMs) {
      generating = false;
      for (const w of wakers) w();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(loops), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    },
  };
}
