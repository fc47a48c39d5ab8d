/**
 * What the pageloop manifests share: labels, the config file every pod
 * reads (a ConfigMap holding a pageloop config.json), the hardened security
 * context of the stateless pods, and the typed-object list the build
 * writes out.
 */
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { validateConfig, type PageloopConfig } from '../../schemas/validate.js';
import { clickhouseUrl, kafkaBootstrap, type KubernetesConfig, type Resources } from './config.js';

export type IObjectMeta = NonNullable<ConstructorParameters<typeof ConfigMap>[0]>['metadata'] & object;

/** A typed object as the build writes it: kubernetes-models objects and our own CRD models share this. */
export interface ManifestObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: IObjectMeta;
  validate(): void;
  toJSON(): unknown;
}

export const PART_OF = 'pageloop';
/** The label the ServiceMonitor selects Services by. */
export const METRICS_LABEL = 'pageloop.dev/metrics';
export const METRICS_PORT_NAME = 'metrics';

/** Recommended labels (app.kubernetes.io/*); `name` is the component. */
export function labels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': PART_OF, 'app.kubernetes.io/managed-by': 'pageloop-deploy-k8s' };
}

/** The selector of a component's pods: only the labels that never change. */
export function selector(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': PART_OF };
}

export function meta(c: KubernetesConfig, name: string, extraLabels: Record<string, string> = {}): IObjectMeta {
  return { name, namespace: c.namespace, labels: { ...labels(name), ...extraLabels } };
}

export function resources(r: Resources): IContainer['resources'] {
  return {
    requests: { cpu: r.requests.cpu, memory: r.requests.memory },
    limits: { memory: r.limits.memory, ...(r.limits.cpu !== undefined ? { cpu: r.limits.cpu } : {}) },
  };
}

export const CONFIG_MAP_NAME = 'pageloop-config';
export const CONFIG_DIR = '/etc/pageloop';
export const CONFIG_PATH = `${CONFIG_DIR}/config.json`;

/**
 * The pageloop config file of every pod. The agent's metrics listen on all
 * addresses (the kubelet probes and Prometheus scrape the pod IP); the host
 * name comes from the node (PAGELOOP_HOST, set per pod), not from here.
 */
export function pageloopConfigFile(c: KubernetesConfig): PageloopConfig {
  const file: PageloopConfig = {
    kafka: { brokers: kafkaBootstrap(c), clientId: 'pageloop' },
    collector: { metrics: { host: '0.0.0.0', port: c.agent.metricsPort } },
    feedback: { allow: { cgroups: [], executables: [...c.agent.allow.executables], comms: [...c.agent.allow.comms] }, dryRun: c.agent.dryRun },
    clickhouse: { url: clickhouseUrl(c), database: c.clickhouse.database, ...(c.clickhouse.cluster !== '' ? { cluster: c.clickhouse.cluster } : {}) },
  };
  // The same schema `--config` files are checked against: a manifest never carries a file pageloop would refuse.
  validateConfig(file);
  return file;
}

export function configMap(c: KubernetesConfig): ConfigMap {
  return new ConfigMap({
    metadata: meta(c, CONFIG_MAP_NAME),
    data: { 'config.json': JSON.stringify(pageloopConfigFile(c), null, 2) + '\n' },
  });
}

/** The stateless pods (processors, sink): no privilege at all. */
export const RESTRICTED_CONTAINER_SECURITY: NonNullable<IContainer['securityContext']> = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export const TMP_VOLUME = 'tmp';

/** The metrics credentials of every pageloop pod, from monitoring.metricsSecret (deploy/collector.ts and deploy/health-endpoint.ts read these). */
export function metricsCredentialsEnv(c: KubernetesConfig): NonNullable<IContainer['env']> {
  const key = (name: string, k: string) => ({ name, valueFrom: { secretKeyRef: { name: c.monitoring.metricsSecret, key: k } } });
  return [key('PAGELOOP_METRICS_USER', 'username'), key('PAGELOOP_METRICS_PASSWORD', 'password')];
}
