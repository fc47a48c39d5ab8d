/**
 * An example ClickHouse server for the sink and Grafana: one StatefulSet
 * replica with its data on a PersistentVolumeClaim, a headless Service for
 * the StatefulSet and a ClusterIP Service for clients (HTTP 8123, which
 * the sink and Grafana use; native 9000 for clickhouse-client). For a
 * replicated, sharded server fleet use an operator; the tables' cluster
 * form is rendered by `pageloop deploy clickhouse-sql --cluster NAME`, and the
 * sink creates it itself when clickhouse.cluster names the cluster.
 */
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Service } from 'kubernetes-models/v1/Service';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { CLICKHOUSE_HTTP_PORT, CLICKHOUSE_SERVER_NAME, type KubernetesConfig } from './config.js';
import { labels, meta, resources, selector, type ManifestObject } from './common.js';

export const CLICKHOUSE_NATIVE_PORT = 9000;
/** The image's clickhouse user and group. */
const CLICKHOUSE_UID = 101;

export function clickhouseObjects(c: KubernetesConfig): ManifestObject[] {
  const s = c.clickhouse.server;
  const secret = c.clickhouse.credentialsSecret;
  const fromSecret = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
  const env: NonNullable<IContainer['env']> = [
    // The image's entrypoint creates this database (the sink creates it too if missing).
    { name: 'CLICKHOUSE_DB', value: c.clickhouse.database },
    ...(secret === ''
      ? // Newer images cut the password-less default user off the network unless told to leave users alone.
        [{ name: 'CLICKHOUSE_SKIP_USER_SETUP', value: '1' }]
      : [fromSecret('CLICKHOUSE_USER', 'username'), fromSecret('CLICKHOUSE_PASSWORD', 'password')]),
  ];
  const ping = (periodSeconds: number) => ({ httpGet: { path: '/ping', port: 'http' }, periodSeconds, timeoutSeconds: 5, failureThreshold: 3 });
  const headless = new Service({
    metadata: meta(c, `${CLICKHOUSE_SERVER_NAME}-headless`),
    spec: { clusterIP: 'None', selector: selector(CLICKHOUSE_SERVER_NAME), ports: [{ name: 'http', port: CLICKHOUSE_HTTP_PORT, targetPort: 'http' }] },
  });
  const service = new Service({
    metadata: meta(c, CLICKHOUSE_SERVER_NAME),
    spec: {
      selector: selector(CLICKHOUSE_SERVER_NAME),
      ports: [
        { name: 'http', port: CLICKHOUSE_HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
        { name: 'native', port: CLICKHOUSE_NATIVE_PORT, targetPort: 'native', protocol: 'TCP' },
      ],
    },
  });
  const statefulSet = new StatefulSet({
    metadata: meta(c, CLICKHOUSE_SERVER_NAME),
    spec: {
      serviceName: `${CLICKHOUSE_SERVER_NAME}-headless`,
      replicas: 1,
      selector: { matchLabels: selector(CLICKHOUSE_SERVER_NAME) },
      template: {
        metadata: { labels: labels(CLICKHOUSE_SERVER_NAME) },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsUser: CLICKHOUSE_UID, runAsGroup: CLICKHOUSE_UID, fsGroup: CLICKHOUSE_UID, runAsNonRoot: true },
          // Merges and the final flush of in-memory parts on shutdown.
          terminationGracePeriodSeconds: 120,
          containers: [
            {
              name: 'clickhouse',
              image: s.image,
              imagePullPolicy: c.imagePullPolicy,
              env,
              ports: [
                { name: 'http', containerPort: CLICKHOUSE_HTTP_PORT, protocol: 'TCP' },
                { name: 'native', containerPort: CLICKHOUSE_NATIVE_PORT, protocol: 'TCP' },
              ],
              readinessProbe: ping(10),
              livenessProbe: { ...ping(30), initialDelaySeconds: 30 },
              resources: resources(s.resources),
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'data', mountPath: '/var/lib/clickhouse' }],
            },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', labels: labels(CLICKHOUSE_SERVER_NAME) },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: s.storageSize } } },
        },
      ],
    },
  });
  return [headless, service, statefulSet];
}
