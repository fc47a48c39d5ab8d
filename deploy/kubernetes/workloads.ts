/**
 * The stream processors and the ClickHouse sink: stateless Deployments (no
 * privilege, read-only root), each with a PodDisruptionBudget and a Service
 * for its /metrics.
 *
 * Why Deployments and not StatefulSets: nothing about a pod's identity is
 * kept. The processors' transactional ids are per input partition
 * (`<name>.<group>.<topic>.<partition>`, processors/runner.ts), so
 * whichever pod is assigned a partition fences its previous owner, whatever
 * either pod is called; their state is a Kafka changelog, not a disk. The
 * sink's exactly-once rests on insert deduplication tokens made of topic,
 * partition and offsets (sink/blocks.ts), again not on who inserts.
 */
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service } from 'kubernetes-models/v1/Service';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { KubernetesConfig, Resources } from './config.js';
import {
  CONFIG_DIR,
  CONFIG_MAP_NAME,
  CONFIG_PATH,
  METRICS_LABEL,
  METRICS_PORT_NAME,
  RESTRICTED_CONTAINER_SECURITY,
  TMP_VOLUME,
  labels,
  meta,
  metricsCredentialsEnv,
  resources,
  selector,
  type ManifestObject,
} from './common.js';

export const PROCESSORS_NAME = 'pageloop-processors';
export const SINK_NAME = 'pageloop-sink';

interface Workload {
  readonly name: string;
  readonly replicas: number;
  readonly metricsPort: number;
  readonly resources: Resources;
  readonly args: string[];
  readonly env: NonNullable<IContainer['env']>;
  readonly terminationGracePeriodSeconds: number;
}

function workloadObjects(c: KubernetesConfig, w: Workload): ManifestObject[] {
  const probe = (path: string, periodSeconds: number) => ({
    httpGet: { path, port: METRICS_PORT_NAME },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold: 3,
  });
  const deployment = new Deployment({
    metadata: meta(c, w.name),
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: selector(w.name) },
      // One at a time: every replacement is a consumer-group rebalance.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      template: {
        metadata: { labels: labels(w.name) },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: w.terminationGracePeriodSeconds,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          // Spread over nodes: a node going down takes at most one instance's partitions.
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector(w.name) } }],
          containers: [
            {
              name: w.name.replace(/^pageloop-/, ''),
              image: c.image,
              imagePullPolicy: c.imagePullPolicy,
              command: ['pageloop'],
              args: [...w.args, '--config', CONFIG_PATH, '--metrics-port', String(w.metricsPort), '--metrics-host', '0.0.0.0'],
              env: [{ name: 'HOME', value: '/tmp' }, ...metricsCredentialsEnv(c), ...w.env],
              ports: [{ name: METRICS_PORT_NAME, containerPort: w.metricsPort, protocol: 'TCP' }],
              // deploy/health-endpoint.ts: /healthz answers while the event loop does; /readyz once started.
              livenessProbe: { ...probe('/healthz', 20), initialDelaySeconds: 10 },
              readinessProbe: probe('/readyz', 10),
              // Joining the group and restoring partitions from their checkpoints can take a while.
              startupProbe: { ...probe('/healthz', 5), failureThreshold: 60 },
              resources: resources(w.resources),
              securityContext: RESTRICTED_CONTAINER_SECURITY,
              volumeMounts: [
                { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                { name: TMP_VOLUME, mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: CONFIG_MAP_NAME } },
            { name: TMP_VOLUME, emptyDir: { sizeLimit: '256Mi' } },
          ],
        },
      },
    },
  });
  const pdb = new PodDisruptionBudget({
    metadata: meta(c, w.name),
    spec: { maxUnavailable: 1, selector: { matchLabels: selector(w.name) } },
  });
  const service = new Service({
    metadata: meta(c, `${w.name}-metrics`, { [METRICS_LABEL]: 'true' }),
    spec: { selector: selector(w.name), ports: [{ name: METRICS_PORT_NAME, port: w.metricsPort, targetPort: METRICS_PORT_NAME, protocol: 'TCP' }] },
  });
  return [deployment, pdb, service];
}

export function processorObjects(c: KubernetesConfig): ManifestObject[] {
  const p = c.processors;
  return workloadObjects(c, {
    name: PROCESSORS_NAME,
    replicas: p.replicas,
    metricsPort: p.metricsPort,
    resources: p.resources,
    // --instance: the pod's name in logs and client ids (fencing does not depend on it).
    args: ['process', '--quiet', '--engine-workers', String(p.engineWorkers), '--instance', '$(POD_NAME)'],
    env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
    terminationGracePeriodSeconds: 60,
  });
}

export function sinkObjects(c: KubernetesConfig): ManifestObject[] {
  const secret = c.clickhouse.credentialsSecret;
  const credentials = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
  return workloadObjects(c, {
    name: SINK_NAME,
    replicas: c.sink.replicas,
    metricsPort: c.sink.metricsPort,
    resources: c.sink.resources,
    args: ['sink'],
    // clickhouse/client.ts reads the user and password from these.
    env: secret === '' ? [] : [credentials('PAGELOOP_CLICKHOUSE_USER', 'username'), credentials('PAGELOOP_CLICKHOUSE_PASSWORD', 'password')],
    terminationGracePeriodSeconds: 60,
  });
}
