/**
 * A prometheus-operator ServiceMonitor over every pageloop metrics Service
 * (the agents' headless Service, the processors', the sink's): they carry
 * the pageloop.dev/metrics label and a port named `metrics`.
 */
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import type { KubernetesConfig } from './config.js';
import { METRICS_LABEL, METRICS_PORT_NAME, PART_OF, meta, type ManifestObject } from './common.js';

export function monitoringObjects(c: KubernetesConfig): ManifestObject[] {
  return [
    new ServiceMonitor({
      metadata: meta(c, 'pageloop', { ...c.monitoring.labels }),
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/part-of': PART_OF, [METRICS_LABEL]: 'true' } },
        namespaceSelector: { matchNames: [c.namespace] },
        endpoints: [
          {
            port: METRICS_PORT_NAME,
            path: '/metrics',
            interval: c.monitoring.interval,
            // The agents' series by node, the name hints use for a host.
            relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
            // The endpoints serve beyond loopback only with these (the pods read the same Secret).
            basicAuth: { username: { name: c.monitoring.metricsSecret, key: 'username' }, password: { name: c.monitoring.metricsSecret, key: 'password' } },
          },
        ],
      },
    }),
  ];
}
