import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { buildDashboards, dashboardFileName } from '../../dashboards/build.js';
import { declaredTopics } from '../../schemas/topics.js';
import { validateConfig } from '../../schemas/validate.js';
import { AGENT_CAPABILITIES, AGENT_NAME, AGENT_STATE_DIR, BPFFS, HOST_CGROUP } from './agent.js';
import { buildManifests, type Manifest } from './build.js';
import { CONFIG_MAP_NAME, METRICS_LABEL, METRICS_PORT_NAME } from './common.js';
import { DEFAULT_KUBERNETES_CONFIG, mergeKubernetesValues, type KubernetesConfig } from './config.js';
import { Kafka } from './strimzi.js';
import { PROCESSORS_NAME, SINK_NAME } from './workloads.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

// Plain JSON as written to the files: what kubectl would send.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test-only view of the written JSON, walked by path
type Json = Record<string, any>;
const json = (m: Manifest): Json => JSON.parse(JSON.stringify(m.object.toJSON())) as Json;
const find = (ms: Manifest[], kind: string, name: string): Json => {
  const m = ms.find((x) => x.object.kind === kind && x.object.metadata?.name === name);
  assert.ok(m, `${kind}/${name}`);
  return json(m);
};
const withValues = (values: unknown): KubernetesConfig => mergeKubernetesValues(DEFAULT_KUBERNETES_CONFIG, values);

const manifests = buildManifests(DEFAULT_KUBERNETES_CONFIG);

test('every object validates against its schema, and the schemas do refuse bad objects', () => {
  for (const m of manifests) assert.doesNotThrow(() => m.object.validate(), m.file);
  const ds = find(manifests, 'DaemonSet', AGENT_NAME);
  ds.spec.template.spec.containers[0].ports[0].containerPort = 'metrics';
  assert.throws(() => new DaemonSet(ds as never).validate(), /containerPort/);
  const dep = find(manifests, 'Deployment', SINK_NAME);
  delete dep.spec.selector;
  assert.throws(() => new Deployment(dep as never).validate(), /selector/);
  const kafka = find(manifests, 'Kafka', 'pageloop');
  kafka.spec.kafka.listeners[0].name = 'Plain-Listener';
  assert.throws(() => new Kafka(kafka as never).validate(), /pattern/);
});

test('the agent: a DaemonSet on every node, host PID namespace, bpffs and cgroup mounts, exactly its capabilities', () => {
  const ds = find(manifests, 'DaemonSet', AGENT_NAME);
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostPID, true);
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
  const [agent] = pod.containers;
  const sc = agent.securityContext;
  assert.equal(sc.privileged, false);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual([...sc.capabilities.add].sort(), ['BPF', 'PERFMON', 'SYS_NICE', 'SYS_PTRACE']);
  assert.deepEqual(AGENT_CAPABILITIES, sc.capabilities.add);
  assert.ok(!sc.capabilities.add.includes('SYS_ADMIN'));
  const mounts = new Map(agent.volumeMounts.map((v: Json) => [v.mountPath, v.name]));
  const volumes = new Map(pod.volumes.map((v: Json) => [v.name, v]));
  for (const path of [BPFFS, HOST_CGROUP]) {
    const v = volumes.get(mounts.get(path)) as Json;
    assert.deepEqual(v.hostPath, { path, type: 'Directory' }, path);
  }
  assert.deepEqual((volumes.get(mounts.get(AGENT_STATE_DIR)) as Json).hostPath, { path: AGENT_STATE_DIR, type: 'DirectoryOrCreate' });
  assert.ok(!pod.volumes.some((v: Json) => v.hostPath && ![BPFFS, HOST_CGROUP, AGENT_STATE_DIR].includes(v.hostPath.path)), 'no other host paths');
  const env = new Map(agent.env.map((e: Json) => [e.name, e]));
  assert.deepEqual((env.get('PAGELOOP_HOST') as Json).valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
  assert.equal((env.get('PAGELOOP_METRICS_PASSWORD') as Json).valueFrom.secretKeyRef.name, 'pageloop-metrics');
  assert.equal(agent.livenessProbe.tcpSocket.port, METRICS_PORT_NAME);
});

test('processors and sink: Deployments with resources, probes on their health endpoint, a PDB and a metrics Service that select their pods', () => {
  for (const name of [PROCESSORS_NAME, SINK_NAME]) {
    const dep = find(manifests, 'Deployment', name);
    const podLabels = dep.spec.template.metadata.labels;
    const [container] = dep.spec.template.spec.containers;
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory, `${name}: resources`);
    assert.equal(container.securityContext.runAsNonRoot, true);
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    const port = container.ports.find((p: Json) => p.name === METRICS_PORT_NAME).containerPort;
    assert.equal(container.args[container.args.indexOf('--metrics-port') + 1], String(port));
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
    assert.ok(matches(dep.spec.selector.matchLabels));
    assert.ok(matches(find(manifests, 'PodDisruptionBudget', name).spec.selector.matchLabels), `${name}: PDB`);
    const svc = find(manifests, 'Service', `${name}-metrics`);
    assert.ok(matches(svc.spec.selector));
    assert.equal(svc.metadata.labels[METRICS_LABEL], 'true');
  }
  const sm = find(manifests, 'ServiceMonitor', 'pageloop');
  const metricsServices = manifests.filter((m) => m.object.kind === 'Service' && m.object.metadata?.labels?.[METRICS_LABEL] === 'true').map(json);
  assert.equal(metricsServices.length, 3);
  for (const svc of metricsServices) {
    assert.ok(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v), svc.metadata.name);
    assert.ok(svc.spec.ports.some((p: Json) => p.name === sm.spec.endpoints[0].port));
  }
  assert.equal(sm.spec.endpoints[0].basicAuth.password.name, 'pageloop-metrics');
});

test('the containers run flags the real commands accept, with a config file pageloop accepts', () => {
  const config = JSON.parse(find(manifests, 'ConfigMap', CONFIG_MAP_NAME).data['config.json'] as string) as unknown;
  assert.doesNotThrow(() => validateConfig(config));
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-k8s-args-'));
  try {
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(config));
    for (const kind of ['DaemonSet', 'Deployment']) {
      for (const m of manifests.filter((x) => x.object.kind === kind)) {
        const [c] = json(m).spec.template.spec.containers;
        assert.deepEqual(c.command, ['pageloop']);
        // --help after the flags: parsing runs first and refuses an unknown flag or a missing value.
        const args = (c.args as string[]).map((a) => (a === '/etc/pageloop/config.json' ? configPath : a.replace('$(POD_NAME)', 'pod-0')));
        const r = spawnSync(process.execPath, [MAIN, ...args, '--help'], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${m.file}: pageloop ${args.join(' ')}: ${r.stderr}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Kafka as Strimzi KRaft with a node pool and the declared topics; ClickHouse as a StatefulSet; Grafana from the built dashboards', () => {
  const pool = find(manifests, 'KafkaNodePool', 'pageloop-dual-role');
  assert.equal(pool.metadata.labels['strimzi.io/cluster'], 'pageloop');
  assert.deepEqual(pool.spec.roles, ['controller', 'broker']);
  const topics = manifests.filter((m) => m.object.kind === 'KafkaTopic').map(json);
  assert.deepEqual(topics.map((t) => t.spec.topicName).sort(), declaredTopics().map((t) => t.name).sort());
  assert.ok(topics.every((t) => t.spec.replicas === 3));
  const sts = find(manifests, 'StatefulSet', 'pageloop-clickhouse');
  assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '200Gi');
  const dashboards = find(manifests, 'ConfigMap', 'pageloop-grafana-dashboards').data as Record<string, string>;
  const built = buildDashboards();
  assert.deepEqual(Object.keys(dashboards).sort(), built.map((d) => dashboardFileName(d.uid)).sort());
  for (const d of built) assert.deepEqual(JSON.parse(dashboards[dashboardFileName(d.uid)]!), d.json);
  const ds = find(manifests, 'ConfigMap', 'pageloop-grafana-datasource').data['pageloop.yaml'] as string;
  assert.match(ds, /host: "?pageloop-clickhouse\.pageloop\.svc"?/);
  assert.match(ds, /port: 8123/);
});

test('values: merged key by key; unknown keys and bad values are errors naming the key', () => {
  const c = withValues({ namespace: 'obs', processors: { replicas: 6 }, clickhouse: { url: 'https://ch.example:8443', cluster: 'fleet', server: { enabled: false } } });
  assert.equal(c.processors.metricsPort, DEFAULT_KUBERNETES_CONFIG.processors.metricsPort);
  const ms = buildManifests(c);
  assert.equal(find(ms, 'Deployment', PROCESSORS_NAME).spec.replicas, 6);
  assert.ok(!ms.some((m) => m.object.kind === 'StatefulSet'));
  const file = JSON.parse(find(ms, 'ConfigMap', CONFIG_MAP_NAME).data['config.json'] as string) as Json;
  assert.deepEqual(file.clickhouse, { url: 'https://ch.example:8443', database: 'pageloop', cluster: 'fleet' });
  assert.match(find(ms, 'ConfigMap', 'pageloop-grafana-datasource').data['pageloop.yaml'], /secure: true/);
  assert.throws(() => withValues({ procesors: {} }), /^UsageError: procesors: unknown key/);
  assert.throws(() => buildManifests(withValues({ processors: { replicas: 0 } })), /^UsageError: processors\.replicas: wants an integer 1-/);
  assert.throws(() => buildManifests(withValues({ clickhouse: { cluster: 'fleet' } })), /^UsageError: clickhouse\.cluster: wants clickhouse\.url/);
  assert.throws(() => buildManifests(withValues({ clickhouse: { cluster: 'a b', url: 'http://x:8123' } })), /^UsageError: clickhouse\.cluster: /);
  assert.throws(() => buildManifests(withValues({ agent: { resources: { requests: { cpu: 'lots' } } } })), /^UsageError: agent\.resources\.requests\.cpu: wants a Kubernetes quantity/);
  assert.throws(() => buildManifests(withValues({ monitoring: { metricsSecret: '' } })), /^UsageError: monitoring\.metricsSecret/);
});

test('pageloop deploy k8s --out writes one JSON file per object; --values applies a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-k8s-out-'));
  try {
    const values = join(dir, 'values.json');
    writeFileSync(values, JSON.stringify({ namespace: 'obs' }));
    const r = spawnSync(process.execPath, [MAIN, 'deploy', 'k8s', '--out', join(dir, 'm'), '--values', values, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as { files: string[] }).files;
    const listed = readdirSync(join(dir, 'm'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => relative(join(dir, 'm'), join(e.parentPath, e.name)));
    assert.deepEqual(listed.sort(), files.map((f) => relative(join(dir, 'm'), f)).sort());
    assert.equal(files.length, buildManifests(withValues({ namespace: 'obs' })).length);
    for (const f of files) {
      const o = JSON.parse(readFileSync(f, 'utf8')) as Json;
      assert.equal(o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace, 'obs', f);
    }
    const bad = spawnSync(process.execPath, [MAIN, 'deploy', 'k8s', '--out', join(dir, 'n'), '--cluster', 'x'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--cluster does not go with deploy k8s/);
    const sql = spawnSync(process.execPath, [MAIN, 'deploy', 'clickhouse-sql', '--cluster', 'fleet'], { encoding: 'utf8' });
    assert.equal(sql.status, 0, sql.stderr);
    assert.match(sql.stdout, /CREATE TABLE IF NOT EXISTS events_local ON CLUSTER `fleet`/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
