/**
 * A small HTTP endpoint for the processors and the sink, which have no other
 * one: /metrics (Prometheus: the Node process's own metrics, a ready gauge
 * and the component's counters read from its stats at scrape time),
 * /healthz (the event loop answers) and /readyz (started: joined its
 * consumer group, schema applied). The collector has its own /metrics
 * (collectors/metrics.ts).
 *
 * Like the collector's, /metrics beyond loopback needs credentials (HTTP
 * Basic: PAGELOOP_METRICS_USER, default prometheus, and
 * PAGELOOP_METRICS_PASSWORD). /healthz and /readyz stay open: they say
 * only "ok" or "starting", and the kubelet's probes cannot carry a secret.
 */
import { createServer, type Server } from 'node:http';
import client from 'prom-client';
import { UsageError } from '../lib/errors.js';
import { basicAuthCredentials, isLoopback, sameSecret } from '../lib/net.js';

export interface HealthEndpointConfig {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Required for /metrics when host is not loopback. */
  readonly auth?: { readonly user: string; readonly password: string };
}

/** The endpoint's credentials from the environment (a Kubernetes Secret's keys, say), or none. */
export function metricsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): Pick<HealthEndpointConfig, 'auth'> {
  const password = env.PAGELOOP_METRICS_PASSWORD;
  return password ? { auth: { user: env.PAGELOOP_METRICS_USER || 'prometheus', password } } : {};
}

export const DEFAULT_HEALTH_HOST = '127.0.0.1';
/** Defaults beside the collector's 9464, so that one host can run all three. */
export const DEFAULT_PROCESSORS_METRICS_PORT = 9465;
export const DEFAULT_SINK_METRICS_PORT = 9466;

export function validateHealthEndpointConfig(c: HealthEndpointConfig, flag = 'metrics-port'): void {
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) throw new UsageError(`--${flag}: wants a port 0-65535, got ${c.port}`);
  if (typeof c.host !== 'string' || c.host.trim() === '') throw new UsageError(`--metrics-host: wants an address, got '${c.host}'`);
  if (!isLoopback(c.host) && !c.auth?.password) {
    throw new UsageError(`--metrics-host: ${c.host} is reachable from other machines; set PAGELOOP_METRICS_PASSWORD (and PAGELOOP_METRICS_USER) to serve /metrics there`);
  }
}

export interface HealthSource {
  /** True once the component has started; /readyz answers 503 until then. */
  ready(): boolean;
  /** Counters by metric name (without the component prefix), read at each scrape. */
  readonly counters: Readonly<Record<string, { readonly help: string; readonly value: () => number }>>;
}

export interface HealthEndpoint {
  readonly port: number;
  readonly registry: client.Registry;
  close(): Promise<void>;
}

/** Serves the endpoint for `component` (processors, sink): metric names are pageloop_<component>_<name>. */
export async function serveHealthEndpoint(config: HealthEndpointConfig, component: string, source: HealthSource): Promise<HealthEndpoint> {
  validateHealthEndpointConfig(config);
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  new client.Gauge({
    name: `pageloop_${component}_ready`,
    help: `1 once the ${component} have started`,
    registers: [registry],
    collect() {
      this.set(source.ready() ? 1 : 0);
    },
  });
  for (const [name, c] of Object.entries(source.counters)) {
    new client.Counter({
      name: `pageloop_${component}_${name}`,
      help: c.help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(c.value());
      },
    });
  }
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = source.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'starting\n');
    } else if (path === '/metrics') {
      const auth = config.auth;
      if (auth) {
        const given = basicAuthCredentials(req.headers.authorization);
        if (!given || !sameSecret(given.user, auth.user) || !sameSecret(given.password, auth.password)) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="pageloop"' }).end('credentials required\n');
          return;
        }
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics, /healthz, /readyz\n');
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : config.port);
    });
  });
  return {
    port,
    registry,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
