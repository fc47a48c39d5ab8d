/**
 * The collector's Prometheus metrics (prom-client): events drained, produced
 * and dropped per family, ring-buffer loss per CPU, queue depth, produce
 * latency. Counters are read from the collector's own stats at scrape time,
 * so there is one source of truth for every number.
 */
import { createServer, type Server } from 'node:http';
import client from 'prom-client';
import { UsageError } from '../lib/errors.js';
import { basicAuthCredentials, isLoopback, sameSecret } from '../lib/net.js';
import { FAMILIES } from '../bpf/events.js';
import type { CollectorStats } from './collector.js';

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

export function createCollectorMetrics(stats: () => CollectorStats): CollectorMetrics {
  const registry = new client.Registry();
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
