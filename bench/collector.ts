/**
 * Collector benchmark: ring buffer -> Kafka, with the broker on the same
 * machine. A BPF program emits fault records in bursts per getpid() of a
 * generator; the collector drains, batches, encodes and produces them. The
 * rate reported is records acknowledged by Kafka per second, from the
 * generator's start to the last acknowledgement, and each run must end with
 * zero ring-buffer loss and zero queue drops. Peak memory is the collector
 * process's VmHWM.
 *
 * With --compare, rounds alternate between the collector's encoder (ring-buffer
 * records straight to column varints) and the object path it replaced
 * (records -> columns arrays -> bytes), and the paired ratio is reported.
 *
 *   node dist/bench/collector.js [--records N] [--rounds R] [--compression gzip|none] [--max-events N] [--compare]
 */
import { readFileSync } from 'node:fs';
import { startTestBroker } from '../test/broker.js';
import { DEFAULT_PROBES_CONFIG, createProbes } from '../bpf/probes.js';
import { loadAddon } from '../bpf/native.js';
import { createCollector, DEFAULT_COLLECTOR_CONFIG, totalOf } from '../collectors/collector.js';
import { createKafkaEventsProducer, type Compression } from '../collectors/kafka-producer.js';
import { encodeCollectorBatch } from '../collectors/encode.js';
import { encodeEventBatch } from '../schemas/event-batch-codec.js';
import { eventBatchFromRecords } from '../schemas/event-batch-rows.js';
import type { CollectorBatch } from '../collectors/collector.js';
import { startMemtouch } from './workloads/memtouch.js';
import { machine, median } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const RECORDS = Number(opt('records', '2000000'));
const ROUNDS = Number(opt('rounds', '3'));
const COMPRESSION = opt('compression', 'gzip') as Compression;
const BURST = 64;
const MAX_EVENTS = Number(opt('max-events', String(DEFAULT_COLLECTOR_CONFIG.batch.maxEvents)));
const COMPARE = args.includes('--compare');

/** The encoder before encodeEventBatchFromRecords: a columnar batch of arrays first, then bytes. */
function encodeByObjectPath(b: CollectorBatch): Uint8Array {
  const meta = { host: b.host, bootId: b.bootId, collectorId: b.instance, sequence: b.sequence, loss: b.loss, dropped: b.dropped, vmstat: b.vmstat, psi: b.psi, damon: b.damon };
  return encodeEventBatch(eventBatchFromRecords(meta, b.frames, b.events));
}

function vmHwmKb(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
}

async function main(): Promise<void> {
  const broker = await startTestBroker();
  const generator = await startMemtouch();
  const rates: number[] = [];
  const objectRates: number[] = [];
  const ratios: number[] = [];
  try {
    for (let r = 0; r < (COMPARE ? 2 * ROUNDS : ROUNDS); r++) {
      // Paired rounds in alternating order: direct, object, object, direct, ...
      const objectPath = COMPARE && (r % 4 === 1 || r % 4 === 2);
      const probes = createProbes({
        ...DEFAULT_PROBES_CONFIG,
        families: ['collapse'],
        ringBufferBytes: 256 << 20,
        bench: { pid: generator.pid, burst: BURST, asFaults: true },
      }, { addon: loadAddon() });
      const collector = createCollector(
        { ...DEFAULT_COLLECTOR_CONFIG, host: 'bench-host', bootId: 'bench', instance: `bench-${r}`, queue: { maxBytes: 1 << 30 }, batch: { ...DEFAULT_COLLECTOR_CONFIG.batch, maxEvents: MAX_EVENTS, maxBytes: 64 << 20 }, flushTimeoutMs: 600_000 },
        { probes, producer: createKafkaEventsProducer(broker.kafka, { compression: COMPRESSION, sendTimeoutMs: 30_000 }), encode: objectPath ? encodeByObjectPath : encodeCollectorBatch },
      );
      collector.start();
      const t0 = performance.now();
      await generator.send(`getpid ${RECORDS / BURST}`);
      let s = collector.stats();
      while (s.produced.fault < RECORDS && s.loss.total === 0 && totalOf(s.dropped) === 0) {
        await new Promise((res) => setTimeout(res, 20));
        s = collector.stats();
      }
      const seconds = (performance.now() - t0) / 1000;
      const final = await collector.stop();
      if (final.loss.total || totalOf(final.dropped) || final.produced.fault !== RECORDS) {
        throw new Error(`round ${r + 1}: lost ${final.loss.total}, dropped ${totalOf(final.dropped)}, produced ${final.produced.fault} of ${RECORDS}`);
      }
      (objectPath ? objectRates : rates).push(RECORDS / seconds);
      if (COMPARE && r % 2 === 1) ratios.push(rates.at(-1)! / objectRates.at(-1)!);
      console.log(`round ${r + 1}${COMPARE ? (objectPath ? ' (object path)' : ' (direct)') : ''}: ${RECORDS} records in ${seconds.toFixed(2)} s = ${(RECORDS / seconds / 1e6).toFixed(3)}M/s, ${final.batchesProduced} batches, zero loss; VmHWM so far ${(vmHwmKb() / 1024).toFixed(0)} MiB`);
    }
  } finally {
    await generator.exit();
    await broker.close();
  }
  console.log(`\nmachine: ${machine()}`);
  console.log(`records per round: ${RECORDS} fault records, compression ${COMPRESSION}, up to ${MAX_EVENTS} events per batch, broker on the same machine`);
  console.log(`median: ${(median(rates) / 1e6).toFixed(3)}M records/s into Kafka with zero loss; collector peak RSS (VmHWM) ${(vmHwmKb() / 1024).toFixed(0)} MiB`);
  if (COMPARE) console.log(`object path: ${(median(objectRates) / 1e6).toFixed(3)}M records/s; median paired ratio direct / object ${median(ratios).toFixed(2)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
