/**
 * The one config of `pageloop deploy k8s`: namespace, image, where Kafka and
 * ClickHouse are, sizes and placement. DEFAULT_KUBERNETES_CONFIG plus a
 * values file (any subset, merged key by key), checked by
 * validateKubernetesConfig, whose errors name the key.
 */
import { UsageError } from '../../lib/errors.js';
import { topicSpec } from '../../schemas/topics.js';
import { validateTableLayout } from '../../schemas/clickhouse-cluster.js';
import type { IToleration } from 'kubernetes-models/v1/Toleration';

export interface Resources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  /** No CPU limit by default: throttling a stream processor only adds lag. */
  readonly limits: { readonly cpu?: string; readonly memory: string };
}

export interface KubernetesConfig {
  readonly namespace: string;
  /** An image with `pageloop` on its PATH, its BPF object and native addon built for the nodes' architecture. */
  readonly image: string;
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  readonly kafka: {
    /** Bootstrap servers, host:port; empty: the Strimzi example's bootstrap Service. */
    readonly bootstrap: readonly string[];
    readonly strimzi: {
      /** Write the Strimzi Kafka + KafkaNodePool + KafkaTopic example (needs the Strimzi operator). */
      readonly enabled: boolean;
      readonly clusterName: string;
      /** Kafka version the operator runs. */
      readonly version: string;
      /** Nodes of the pool; each is a broker and a KRaft controller. */
      readonly replicas: number;
      readonly storageSize: string;
      readonly resources: Resources;
    };
  };
  readonly clickhouse: {
    /** The HTTP interface; empty: the example server's Service. */
    readonly url: string;
    readonly database: string;
    /** A cluster of the servers' remote_servers: the tables go ON CLUSTER (schemas/clickhouse-cluster.ts); '' one server. */
    readonly cluster: string;
    /** A Secret with keys `username` and `password` for the sink and Grafana; empty: the `default` user without password. */
    readonly credentialsSecret: string;
    readonly server: {
      /** Write the single-server StatefulSet example. */
      readonly enabled: boolean;
      readonly image: string;
      readonly storageSize: string;
      readonly resources: Resources;
    };
  };
  readonly agent: {
    readonly metricsPort: number;
    readonly nodeSelector: Readonly<Record<string, string>>;
    readonly tolerations: readonly IToleration[];
    readonly resources: Resources;
    /** The feedback agent records what it would do and changes nothing. */
    readonly dryRun: boolean;
    /** Processes hints may act on, by executable path or command name (see validate for cgroups). */
    readonly allow: { readonly executables: readonly string[]; readonly comms: readonly string[] };
  };
  readonly processors: { readonly replicas: number; readonly metricsPort: number; readonly engineWorkers: number; readonly resources: Resources };
  readonly sink: { readonly replicas: number; readonly metricsPort: number; readonly resources: Resources };
  readonly grafana: {
    /** Where Grafana finds the dashboard JSON (the dashboards ConfigMap mounted there). */
    readonly dashboardsDir: string;
    readonly folder: string;
  };
  readonly monitoring: {
    /** Write a prometheus-operator ServiceMonitor (needs its CRDs). */
    readonly serviceMonitor: boolean;
    readonly interval: string;
    /** Labels the Prometheus resource selects ServiceMonitors by (e.g. release: prometheus). */
    readonly labels: Readonly<Record<string, string>>;
    /**
     * A Secret with keys `username` and `password`: every /metrics endpoint
     * listens on the pod IP, and pageloop serves metrics beyond loopback only
     * with HTTP Basic credentials; the ServiceMonitor sends the same ones.
     */
    readonly metricsSecret: string;
  };
}

export const DEFAULT_KUBERNETES_CONFIG: KubernetesConfig = {
  namespace: 'pageloop',
  image: 'pageloop:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  kafka: {
    bootstrap: [],
    strimzi: {
      enabled: true,
      clusterName: 'pageloop',
      version: '3.9.0',
      replicas: 3,
      storageSize: '100Gi',
      resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } },
    },
  },
  clickhouse: {
    url: '',
    database: 'pageloop',
    cluster: '',
    credentialsSecret: '',
    server: {
      enabled: true,
      image: 'clickhouse/clickhouse-server:24.8',
      storageSize: '200Gi',
      resources: { requests: { cpu: '1', memory: '4Gi' }, limits: { memory: '8Gi' } },
    },
  },
  agent: {
    // collectors/metrics.ts serves /metrics; 9464 is the collector's default (deploy/collector.ts).
    metricsPort: 9464,
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    // Every node, tainted ones too: a host without its agent is a hole in the fleet's data.
    tolerations: [{ operator: 'Exists' }],
    // BPF maps are charged to the pod's memory cgroup (kernels >= 5.11): the 16 MiB ring buffer and the fault table count here.
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } },
    dryRun: true,
    allow: { executables: [], comms: [] },
  },
  processors: {
    replicas: 3,
    metricsPort: 9465,
    engineWorkers: 2,
    // BENCHMARKS.md: one instance with two engine workers does ~1.8-2 M events/s on 2 vCPUs.
    resources: { requests: { cpu: '2', memory: '1Gi' }, limits: { memory: '2Gi' } },
  },
  sink: {
    replicas: 2,
    metricsPort: 9466,
    resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } },
  },
  grafana: { dashboardsDir: '/var/lib/grafana/dashboards/pageloop', folder: 'pageloop' },
  monitoring: { serviceMonitor: true, interval: '30s', labels: {}, metricsSecret: 'pageloop-metrics' },
};

/** A values file's shape: any subset of the config, nested. */
export type KubernetesValues = { [K in keyof KubernetesConfig]?: DeepPartial<KubernetesConfig[K]> };
type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `values` over `base`, key by key. Objects merge; arrays, scalars and
 * free-form maps (labels, nodeSelector) replace. An unknown key is an
 * error naming it, so a typo is not silently ignored.
 */
export function mergeKubernetesValues(base: KubernetesConfig, values: unknown): KubernetesConfig {
  const FREE_FORM = new Set(['agent.nodeSelector', 'monitoring.labels', 'agent.tolerations']);
  const merge = (b: unknown, v: unknown, path: string): unknown => {
    if (v === undefined) return b;
    if (FREE_FORM.has(path) || !isPlainObject(b)) return v;
    if (!isPlainObject(v)) throw new UsageError(`${path}: wants an object, got ${JSON.stringify(v)}`);
    const out: Record<string, unknown> = { ...b };
    for (const [k, val] of Object.entries(v)) {
      const key = path ? `${path}.${k}` : k;
      if (!(k in b)) throw new UsageError(`${key}: unknown key (known here: ${Object.keys(b).join(', ')})`);
      out[k] = merge(b[k], val, key);
    }
    return out;
  };
  if (!isPlainObject(values)) throw new UsageError(`values: wants a JSON object, got ${JSON.stringify(values)}`);
  return merge(base, values, '') as KubernetesConfig;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Kubernetes quantities as written here: 100m, 1, 1.5, 512Mi, 2Gi, 1G.
const QUANTITY = /^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$/;
const DURATION = /^\d+(ms|s|m|h)$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$/;

function fail(key: string, want: string, got: unknown): never {
  throw new UsageError(`${key}: ${want}, got ${JSON.stringify(got)}`);
}

function checkResources(key: string, r: Resources): void {
  if (!isPlainObject(r) || !isPlainObject(r.requests) || !isPlainObject(r.limits)) fail(key, 'wants {requests: {cpu, memory}, limits: {memory}}', r);
  for (const [k, v] of [['requests.cpu', r.requests.cpu], ['requests.memory', r.requests.memory], ['limits.memory', r.limits.memory], ...(r.limits.cpu !== undefined ? [['limits.cpu', r.limits.cpu]] : [])] as const) {
    if (typeof v !== 'string' || !QUANTITY.test(v)) fail(`${key}.${k}`, 'wants a Kubernetes quantity (e.g. 500m, 2, 512Mi, 4Gi)', v);
  }
}

function checkPort(key: string, p: number): void {
  if (!Number.isInteger(p) || p < 1 || p > 65535) fail(key, 'wants a port 1-65535', p);
}

function checkCount(key: string, n: number, max: number): void {
  if (!Number.isInteger(n) || n < 1 || n > max) fail(key, `wants an integer 1-${max}`, n);
}

function checkStringMap(key: string, m: Readonly<Record<string, string>>): void {
  if (!isPlainObject(m)) fail(key, 'wants an object of strings', m);
  for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') fail(`${key}.${k}`, 'wants a string', v);
}

/** Checks a config; every error names the key and what was expected. */
export function validateKubernetesConfig(c: KubernetesConfig): void {
  if (typeof c.namespace !== 'string' || !DNS_LABEL.test(c.namespace) || c.namespace.length > 63) fail('namespace', 'wants a DNS label (lower-case letters, digits, -; at most 63)', c.namespace);
  for (const [key, image] of [['image', c.image], ['clickhouse.server.image', c.clickhouse.server.image]] as const) {
    if (typeof image !== 'string' || image === '' || /\s/.test(image)) fail(key, 'wants an image reference without spaces', image);
  }
  if (!['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy)) fail('imagePullPolicy', 'wants Always, IfNotPresent or Never', c.imagePullPolicy);

  const k = c.kafka;
  if (!Array.isArray(k.bootstrap)) fail('kafka.bootstrap', 'wants a list of host:port', k.bootstrap);
  k.bootstrap.forEach((b, i) => (typeof b === 'string' && HOST_PORT.test(b) ? undefined : fail(`kafka.bootstrap[${i}]`, 'wants host:port', b)));
  if (k.bootstrap.length === 0 && !k.strimzi.enabled) fail('kafka.bootstrap', 'wants the brokers when kafka.strimzi.enabled is false (nothing else says where Kafka is)', k.bootstrap);
  if (!DNS_LABEL.test(k.strimzi.clusterName)) fail('kafka.strimzi.clusterName', 'wants a DNS label', k.strimzi.clusterName);
  if (!/^\d+\.\d+\.\d+$/.test(k.strimzi.version)) fail('kafka.strimzi.version', 'wants a Kafka version like 3.9.0', k.strimzi.version);
  checkCount('kafka.strimzi.replicas', k.strimzi.replicas, 99);
  if (!QUANTITY.test(k.strimzi.storageSize)) fail('kafka.strimzi.storageSize', 'wants a quantity like 100Gi', k.strimzi.storageSize);
  checkResources('kafka.strimzi.resources', k.strimzi.resources);

  const ch = c.clickhouse;
  if (ch.url !== '') {
    let u: URL | undefined;
    try {
      u = new URL(ch.url);
    } catch {
      fail('clickhouse.url', 'wants a URL of the HTTP interface (http://host:8123)', ch.url);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') fail('clickhouse.url', 'wants http:// or https:// (ClickHouse HTTP interface)', ch.url);
  } else if (!ch.server.enabled) {
    fail('clickhouse.url', 'wants the server URL when clickhouse.server.enabled is false (the sink needs a server in a cluster)', ch.url);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(ch.database)) fail('clickhouse.database', 'wants an identifier (letters, digits, _)', ch.database);
  // The pageloop config's own check (schemas/config.schema.json), under the same key.
  validateTableLayout({ cluster: ch.cluster, database: ch.database });
  if (ch.cluster !== '' && ch.url === '') fail('clickhouse.cluster', "wants clickhouse.url as well: the example server is one server, not a cluster (or '')", ch.cluster);
  if (ch.credentialsSecret !== '' && !DNS_LABEL.test(ch.credentialsSecret)) fail('clickhouse.credentialsSecret', "wants a Secret name or ''", ch.credentialsSecret);
  if (!QUANTITY.test(ch.server.storageSize)) fail('clickhouse.server.storageSize', 'wants a quantity like 200Gi', ch.server.storageSize);
  checkResources('clickhouse.server.resources', ch.server.resources);

  const a = c.agent;
  checkPort('agent.metricsPort', a.metricsPort);
  checkStringMap('agent.nodeSelector', a.nodeSelector);
  if (!Array.isArray(a.tolerations)) fail('agent.tolerations', 'wants a list of tolerations', a.tolerations);
  checkResources('agent.resources', a.resources);
  if (typeof a.dryRun !== 'boolean') fail('agent.dryRun', 'wants true or false', a.dryRun);
  if (!isPlainObject(a.allow)) fail('agent.allow', 'wants {executables, comms}', a.allow);
  // Not a cgroup allow-list: a non-privileged container on cgroup v2 has its own cgroup namespace
  // (containerd and CRI-O make one), so /proc/PID/cgroup of other pods reads "/../../kubepods..."
  // there and no host path would ever match (every hint refused). Executables and comms are the same seen from anywhere.
  if ('cgroups' in a.allow) fail('agent.allow.cgroups', 'is not supported in a pod: its private cgroup namespace hides host cgroup paths; allow by executables or comms', (a.allow as { cgroups?: unknown }).cgroups);
  a.allow.executables.forEach((e, i) => (typeof e === 'string' && e.startsWith('/') ? undefined : fail(`agent.allow.executables[${i}]`, 'wants an absolute path', e)));
  a.allow.comms.forEach((e, i) => (typeof e === 'string' && e.length > 0 && e.length <= 15 ? undefined : fail(`agent.allow.comms[${i}]`, 'wants a command name (1-15 characters, as in /proc/PID/comm)', e)));

  const p = c.processors;
  // Instances of one group share the input partitions: past the partition count they sit idle.
  const partitions = topicSpec('pageloop.events.v1').partitions;
  checkCount('processors.replicas', p.replicas, partitions);
  checkPort('processors.metricsPort', p.metricsPort);
  if (!Number.isInteger(p.engineWorkers) || p.engineWorkers < 0 || p.engineWorkers > 16) fail('processors.engineWorkers', 'wants an integer 0-16', p.engineWorkers);
  checkResources('processors.resources', p.resources);
  checkCount('sink.replicas', c.sink.replicas, 64);
  checkPort('sink.metricsPort', c.sink.metricsPort);
  checkResources('sink.resources', c.sink.resources);

  if (!c.grafana.dashboardsDir.startsWith('/')) fail('grafana.dashboardsDir', 'wants an absolute path', c.grafana.dashboardsDir);
  if (c.grafana.folder.trim() === '') fail('grafana.folder', 'wants a folder name', c.grafana.folder);
  if (typeof c.monitoring.serviceMonitor !== 'boolean') fail('monitoring.serviceMonitor', 'wants true or false', c.monitoring.serviceMonitor);
  if (!DURATION.test(c.monitoring.interval)) fail('monitoring.interval', 'wants a duration like 30s', c.monitoring.interval);
  checkStringMap('monitoring.labels', c.monitoring.labels);
  if (typeof c.monitoring.metricsSecret !== 'string' || !DNS_LABEL.test(c.monitoring.metricsSecret)) fail('monitoring.metricsSecret', 'wants a Secret name (keys username, password)', c.monitoring.metricsSecret);
}

/** Where Kafka is: the configured servers, or the Strimzi example's bootstrap Service (plain listener). */
export function kafkaBootstrap(c: KubernetesConfig): string[] {
  return c.kafka.bootstrap.length > 0 ? [...c.kafka.bootstrap] : [`${c.kafka.strimzi.clusterName}-kafka-bootstrap.${c.namespace}.svc:9092`];
}

export const CLICKHOUSE_SERVER_NAME = 'pageloop-clickhouse';
export const CLICKHOUSE_HTTP_PORT = 8123;

/** The ClickHouse HTTP interface: the configured URL, or the example server's Service. */
export function clickhouseUrl(c: KubernetesConfig): string {
  return c.clickhouse.url !== '' ? c.clickhouse.url : `http://${CLICKHOUSE_SERVER_NAME}.${c.namespace}.svc:${CLICKHOUSE_HTTP_PORT}`;
}
