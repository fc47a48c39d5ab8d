/**
 * The collector's Prometheus metrics (prom-client): events drained, produced
 * and dropped per family, ring-buffer loss per CPU, queue depth, produce
 * latency; and, given the overhead meter, what the probes and the agent
 * cost (collectors/overhead.ts). Counters are read from the components' own
 * stats at scrape time, so there is one source of truth for every number.
 */
import { createServer, type Server } from 'node:http';
import client from 'prom-client';
import { UsageError } from '../lib/errors.js';
import { basicAuthCredentials, isLoopback, sameSecret } from '../lib/net.js';
import { FAMILIES } from '../bpf/events.js';
import type { CollectorStats } from './collector.js';
import type { OverheadStats } from './overhead.js';

export interface CollectorMetrics {
  readonly registry: client.Registry;
  observeProduce(latencyMs: number, bytes: number): void;
  /**
   * Serves /metrics on host:port; resolves with the bound port. Beyond
   * loopback it needs `auth` (HTTP Basic, what Prometheus's basic_auth sends).
   */
  serve(host: string, port: number, auth?: MetricsAuth): Promise<number>;
  close(): Promise<void>;
}

export interface MetricsAuth {
  readonly user: string;
  readonly password: string;
}

export function createCollectorMetrics(stats: () => CollectorStats, overhead?: () => OverheadStats): CollectorMetrics {
  const registry = new client.Registry();
  if (overhead) registerOverheadMetrics(registry, overhead);
  const perFamily = (name: string, help: string, pick: (s: CollectorStats) => Record<string, number>) =>
    new client.Counter({
      name,
      help,
      labelNames: ['family'],
      registers: [registry],
      collect() {
        const s = stats();
        this.reset();
        for (const f of FAMILIES) this.inc({ family: f }, pick(s)[f] ?? 0);
      },
    });
  perFamily('pageloop_collector_events_drained_total', 'Events drained from the kernel, per family', (s) => s.drained);
  perFamily('pageloop_collector_events_produced_total', 'Events acknowledged by Kafka, per family', (s) => s.produced);
  perFamily('pageloop_collector_events_dropped_total', 'Events dropped past the queue bound, per family', (s) => s.dropped);
  new client.Counter({
    name: 'pageloop_ringbuf_lost_total',
    help: 'Ring-buffer records the kernel could not reserve, per family and CPU',
    labelNames: ['family', 'cpu'],
    registers: [registry],
    collect() {
      const loss = stats().loss.perFamily;
      this.reset();
      for (const f of FAMILIES) loss[f].forEach((n, cpu) => this.inc({ family: f, cpu: String(cpu) }, n));
    },
  });
  new client.Gauge({
    name: 'pageloop_collector_queue_bytes',
    help: 'Bytes held between the ring buffer and Kafka (including in flight)',
    registers: [registry],
    collect() {
      this.set(stats().queuedBytes);
    },
  });
  new client.Gauge({
    name: 'pageloop_collector_queue_events',
    help: 'Events held between the ring buffer and Kafka',
    registers: [registry],
    collect() {
      this.set(stats().queuedEvents);
    },
  });
  new client.Counter({
    name: 'pageloop_collector_produce_errors_total',
    help: 'Failed produce attempts (the batch is retried)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().produceErrors);
    },
  });
  new client.Counter({
    name: 'pageloop_collector_chunks_rejected_total',
    help: 'Drained batches refused (they do not frame, or hold what the encoder cannot write); their events are in events_dropped_total',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().rejectedChunks);
    },
  });
  const latency = new client.Histogram({
    name: 'pageloop_collector_produce_latency_seconds',
    help: 'Time from send to acknowledgement per batch',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const batchBytes = new client.Histogram({
    name: 'pageloop_collector_batch_bytes',
    help: 'Encoded batch size',
    buckets: [1024, 16384, 65536, 262144, 1048576, 4194304],
    registers: [registry],
  });
  let server: Server | undefined;
  return {
    registry,
    observeProduce(latencyMs, bytes) {
      latency.observe(latencyMs / 1000);
      batchBytes.observe(bytes);
    },
    serve(host, port, auth) {
      if (!isLoopback(host) && !auth?.password) {
        throw new UsageError(`collector.metrics.host: ${host} is reachable from other machines; set collector.metrics.password (and user) to serve metrics there`);
      }
      server = createServer((req, res) => {
        if (auth) {
          const given = basicAuthCredentials(req.headers.authorization);
          if (!given || !sameSecret(given.user, auth.user) || !sameSecret(given.password, auth.password)) {
            res.writeHead(401, { 'www-authenticate': 'Basic realm="pageloop"' }).end('credentials required\n');
            return;
          }
        }
        if (req.url !== '/metrics') {
          res.writeHead(404).end('see /metrics\n');
          return;
        }
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
      });
      return new Promise((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => {
          const addr = server!.address();
          resolve(typeof addr === 'object' && addr ? addr.port : port);
        });
      });
    },
    close() {
      return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

/**
 * The overhead meter's series. Counters are totals since the collector
 * started (Prometheus rates them); gauges are the newest interval's model
 * figures: NaN until the first interval closes and, for the program
 * figures, while stats are off ("not measured", never a 0 that reads as
 * free); per-program ns per run has no series for a program not measured.
 */
function registerOverheadMetrics(registry: client.Registry, overhead: () => OverheadStats): void {
  new client.Gauge({
    name: 'pageloop_bpf_stats_enabled',
    help: 'Whether the kernel keeps BPF program run times for the overhead meter (1) or not (0: the per-program and per-fault figures are not reported)',
    registers: [registry],
    collect() {
      this.set(overhead().statsEnabled ? 1 : 0);
    },
  });
  new client.Counter({
    name: 'pageloop_overhead_read_errors_total',
    help: 'Overhead readings that failed (the interval is not reported)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(overhead().readErrors);
    },
  });
  new client.Counter({
    name: 'pageloop_bpf_program_runs_total',
    help: 'BPF program runs while stats were on (bpf_prog_info run_cnt), per program',
    labelNames: ['program', 'fault_path'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [program, t] of Object.entries(overhead().totals.programs)) this.inc({ program, fault_path: t.faultPath ? '1' : '0' }, t.runs);
    },
  });
  new client.Counter({
    name: 'pageloop_bpf_program_run_seconds_total',
    help: 'BPF program run time while stats were on (bpf_prog_info run_time_ns), per program',
    labelNames: ['program', 'fault_path'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [program, t] of Object.entries(overhead().totals.programs)) this.inc({ program, fault_path: t.faultPath ? '1' : '0' }, t.runTimeNs / 1e9);
    },
  });
  new client.Counter({
    name: 'pageloop_agent_cpu_seconds_total',
    help: "The agent's own CPU time (user + system, every thread) over the overhead intervals",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(overhead().totals.agentCpuNs / 1e9);
    },
  });
  const lastGauge = (name: string, help: string, pick: (l: NonNullable<OverheadStats['last']>) => number | null) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const last = overhead().last;
        const v = last ? pick(last) : null;
        // An unlabelled gauge is always exposed; NaN says "not measured" (no interval yet, stats off) where 0 would claim "free".
        this.set(v ?? NaN);
      },
    });
  new client.Gauge({
    name: 'pageloop_bpf_program_ns_per_run',
    help: 'BPF program run time per run over the newest overhead interval, per program',
    labelNames: ['program', 'fault_path'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of overhead().last?.programs ?? []) if (p.nsPerRun !== null) this.set({ program: p.name, fault_path: p.faultPath ? '1' : '0' }, p.nsPerRun);
    },
  });
  lastGauge('pageloop_agent_cpu_share', "The agent's CPU time over the newest interval as a share of the host's CPU capacity (interval x CPUs)", (l) => l.agentCpuShare);
  lastGauge('pageloop_bpf_cpu_share', 'Every BPF program of the probes: run time over the newest interval as a share of the host CPU capacity', (l) => (l.statsEnabled ? l.bpfCpuShare : null));
  lastGauge('pageloop_fault_path_ns_per_fault', 'Fault-path programs: run time per page fault of the host over the newest interval', (l) => l.faultPathNsPerFault);
  lastGauge(
    'pageloop_fault_path_cpu_share',
    'Fault-path programs: ns per fault x faults/s / CPUs / 1e9, the share of host CPU capacity they take (newest interval)',
    (l) => (l.statsEnabled ? l.faultPathCpuShare : null),
  );
  lastGauge('pageloop_fault_path_slowdown_ratio', 'Estimated slowdown of the work that ran: fault-path run time / (host busy time - it), newest interval', (l) => l.faultPathSlowdown);
  lastGauge('pageloop_host_faults_per_second', 'Page faults of the host per second over the newest interval', (l) => l.faultsPerSecond);
}
