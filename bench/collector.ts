/**
 * Collector benchmark: ring buffer -> Kafka, with the broker on the same
 * machine. A BPF program emits fault records in bursts per getpid() of a
 * generator; the collector drains, batches, encodes and produces them. The
 * rate reported is records acknowledged by Kafka per second, from the
 * generator's start to the last acknowledgement, and each run must end with
 * zero ring-buffer loss and zero queue drops. Peak memory is the collector
 * process's VmHWM.
 *
 *   node dist/bench/collector.js [--records N] [--rounds R] [--compression gzip|none] [--max-events N]
 */
import { readFileSync } from 'node:fs';
import { startTestBroker } from '../deploy/kafka/test-broker.js';
import { createProbes } from '../bpf/probes.js';
import { createCollector, DEFAULT_COLLECTOR_CONFIG, totalOf } from '../collectors/collector.js';
import { createKafkaEventsProducer, type Compression } from '../collectors/kafka-producer.js';
import { encodeCollectorBatch } from '../collectors/encode.js';
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

function vmHwmKb(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
}

async function main(): Promise<void> {
  const broker = await startTestBroker();
  const generator = await startMemtouch();
  const rates: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const probes = createProbes({
        families: ['collapse'],
        ringBufferBytes: 256 << 20,
        bench: { pid: generator.pid, burst: BURST, asFaults: true },
      });
      const collector = createCollector(
        { ...DEFAULT_COLLECTOR_CONFIG, host: 'bench-host', bootId: 'bench', instance: `bench-${r}`, queue: { maxBytes: 1 << 30 }, batch: { ...DEFAULT_COLLECTOR_CONFIG.batch, maxEvents: MAX_EVENTS, maxBytes: 64 << 20 }, flushTimeoutMs: 600_000 },
        { probes, producer: createKafkaEventsProducer(broker.kafka, { compression: COMPRESSION, sendTimeoutMs: 30_000 }), encode: encodeCollectorBatch },
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
      rates.push(RECORDS / seconds);
      console.log(`round ${r + 1}: ${RECORDS} records in ${seconds.toFixed(2)} s = ${(RECORDS / seconds / 1e6).toFixed(3)}M/s, ${final.batchesProduced} batches, zero loss; VmHWM so far ${(vmHwmKb() / 1024).toFixed(0)} MiB`);
    }
  } finally {
    await generator.exit();
    await broker.close();
  }
  console.log(`\nmachine: ${machine()}`);
  console.log(`records per round: ${RECORDS} fault records, compression ${COMPRESSION}, up to ${MAX_EVENTS} events per batch, broker on the same machine`);
  console.log(`median: ${(median(rates) / 1e6).toFixed(3)}M records/s into Kafka with zero loss; collector peak RSS (VmHWM) ${(vmHwmKb() / 1024).toFixed(0)} MiB`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
