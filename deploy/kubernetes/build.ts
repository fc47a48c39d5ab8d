/**
 * `pageloop deploy k8s --out DIR`: every object, typed and validated, one
 * JSON file each (kubectl reads JSON as it reads YAML), in folders by what
 * they need from the cluster:
 *   00-namespace.json   the namespace (pod security level: the agent's)
 *   pageloop/           config, agent DaemonSet, processors, sink: plain Kubernetes
 *   kafka/              Strimzi Kafka, KafkaNodePool, KafkaTopics (the Strimzi operator)
 *   clickhouse/         the example server StatefulSet
 *   grafana/            provisioning ConfigMaps
 *   monitoring/         the ServiceMonitor (prometheus-operator's CRDs)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PageloopError } from '../../lib/errors.js';
import { agentObjects } from './agent.js';
import { clickhouseObjects } from './clickhouse.js';
import { configMap, labels, type ManifestObject } from './common.js';
import { validateKubernetesConfig, type KubernetesConfig } from './config.js';
import { grafanaObjects } from './grafana.js';
import { monitoringObjects } from './monitoring.js';
import { strimziObjects } from './strimzi.js';
import { processorObjects, sinkObjects } from './workloads.js';

export interface Manifest {
  /** Path under the output directory. */
  readonly file: string;
  readonly object: ManifestObject;
}

function namespace(c: KubernetesConfig): Namespace {
  return new Namespace({
    metadata: {
      name: c.namespace,
      labels: {
        ...labels('pageloop'),
        // hostPID, hostPath volumes and added capabilities (the agent) are outside the baseline level.
        'pod-security.kubernetes.io/enforce': 'privileged',
        'pod-security.kubernetes.io/warn': 'baseline',
      },
    },
  });
}

function fileName(folder: string, o: ManifestObject): string {
  return join(folder, `${o.kind.toLowerCase()}-${o.metadata?.name ?? 'unnamed'}.json`);
}

/** Every manifest of the config, validated against its schema (kubernetes-models' or strimzi.ts'). */
export function buildManifests(c: KubernetesConfig): Manifest[] {
  validateKubernetesConfig(c);
  const groups: [string, ManifestObject[]][] = [
    ['pageloop', [configMap(c), ...agentObjects(c), ...processorObjects(c), ...sinkObjects(c)]],
    ['kafka', c.kafka.strimzi.enabled ? strimziObjects(c) : []],
    ['clickhouse', c.clickhouse.server.enabled ? clickhouseObjects(c) : []],
    ['grafana', grafanaObjects(c)],
    ['monitoring', c.monitoring.serviceMonitor ? monitoringObjects(c) : []],
  ];
  const out: Manifest[] = [{ file: '00-namespace.json', object: namespace(c) }];
  for (const [folder, objects] of groups) for (const o of objects) out.push({ file: fileName(folder, o), object: o });
  const seen = new Set<string>();
  for (const m of out) {
    try {
      m.object.validate();
    } catch (err) {
      // Our bug, not the user's input: the config was valid, the object built from it is not.
      throw new PageloopError('k8s-manifest', `${m.file} does not validate: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (seen.has(m.file)) throw new PageloopError('k8s-manifest', `two objects would be written to ${m.file}`);
    seen.add(m.file);
  }
  return out;
}

/** Writes the manifests under `dir`; returns the paths written. */
export async function writeManifests(dir: string, manifests: readonly Manifest[]): Promise<string[]> {
  const paths: string[] = [];
  for (const m of manifests) {
    const path = join(dir, m.file);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, JSON.stringify(m.object.toJSON(), null, 2) + '\n');
    paths.push(path);
  }
  return paths;
}
