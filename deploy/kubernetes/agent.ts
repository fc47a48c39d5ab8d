/**
 * The host agent (`pageloop agent`: probes, collector and feedback agent in
 * one process) as a DaemonSet: one per node, the host's PID namespace, and
 * the capabilities it really needs, not `privileged`.
 *
 * What the agent does to the kernel, and what that takes (the man pages;
 * deploy/kubernetes/capabilities.test.ts runs these steps on the real
 * kernel as uid 0 with exactly AGENT_CAPABILITIES, and without each):
 *   - loads tp_btf programs, ring-buffer/hash maps, attaches raw tracepoints
 *     (bpf/probes.ts): CAP_BPF for maps and loading, CAP_PERFMON for
 *     tracing programs (kernel >= 5.8 splits them off CAP_SYS_ADMIN).
 *   - perf_event_open(PERF_COUNT_SW_PAGE_FAULTS_MAJ) on every CPU for the
 *     swap-in program, system-wide (pid -1): CAP_PERFMON.
 *   - pins the hint map under /sys/fs/bpf (bpf/hint-map.ts): BPF_OBJ_PIN asks
 *     for no capability, only write access to the bpffs directory (uid 0
 *     owns it). So no CAP_SYS_ADMIN: it would only be needed to mount a
 *     bpffs, which the host already has (systemd mounts /sys/fs/bpf).
 *   - reads /proc/PID/maps, /proc/PID/exe of other processes and calls
 *     process_madvise on them (feedback/enforcer.ts, feedback/process.ts):
 *     a PTRACE_MODE_READ check, which a process of another uid or with
 *     other capabilities passes with CAP_SYS_PTRACE (ptrace(2); 6.18 also
 *     lets CAP_PERFMON pass it, which no man page promises, so SYS_PTRACE
 *     stays); and process_madvise(2) itself requires CAP_SYS_NICE.
 *   - writes memory.reclaim of a cgroup (feedback/cgroup.ts): no
 *     capability, only a writable mount of the host's cgroup2 hierarchy
 *     and uid 0 (the files' owner). Hence the /sys/fs/cgroup hostPath and
 *     runAsUser 0.
 *   - no RLIMIT_MEMLOCK: kernels >= 5.11 charge BPF memory to the memory
 *     cgroup, so no CAP_SYS_RESOURCE; the pod's memory limit covers the maps.
 * Not mounted: /sys/kernel/debug and tracefs (tp_btf attaches by BTF id;
 * kernel BTF at /sys/kernel/btf/vmlinux is in every container's read-only
 * /sys). /proc is the host's through hostPID: events carry host pids, and
 * the enforcer opens pidfds and reads /proc by those pids.
 */
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { KubernetesConfig } from './config.js';
import { CONFIG_DIR, CONFIG_MAP_NAME, CONFIG_PATH, METRICS_LABEL, METRICS_PORT_NAME, TMP_VOLUME, labels, meta, metricsCredentialsEnv, resources, selector, type ManifestObject } from './common.js';

export const AGENT_NAME = 'pageloop-agent';

/** The capabilities the agent container adds (after dropping ALL), each with what needs it. */
export const AGENT_CAPABILITY_REASONS = {
  BPF: 'load the BPF programs and maps, pin the hint map',
  PERFMON: 'tracing programs (tp_btf) and system-wide perf_event_open for major faults',
  SYS_PTRACE: "read other processes' /proc/PID/maps and exe, and pass process_madvise's PTRACE_MODE_READ check",
  SYS_NICE: 'process_madvise(2) on another process',
} as const;
export const AGENT_CAPABILITIES = Object.keys(AGENT_CAPABILITY_REASONS) as (keyof typeof AGENT_CAPABILITY_REASONS)[];

export const BPFFS = '/sys/fs/bpf';
export const HOST_CGROUP = '/sys/fs/cgroup';
/** The agent's state on the node (its applied log, feedback/applied-log.ts): it must outlive the pod, as the pinned map does. */
export const AGENT_STATE_DIR = '/var/lib/pageloop';

export function agentObjects(c: KubernetesConfig): ManifestObject[] {
  const m = meta(c, AGENT_NAME);
  const serviceAccount = new ServiceAccount({ metadata: m, automountServiceAccountToken: false });
  const port = c.agent.metricsPort;
  // collectors/metrics.ts serves only /metrics, behind credentials the kubelet cannot take from a Secret:
  // the endpoint accepting connections (it starts once the probes are attached) is the signal.
  const probe = (periodSeconds: number) => ({
    tcpSocket: { port: METRICS_PORT_NAME },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold: 3,
  });
  const daemonSet = new DaemonSet({
    metadata: m,
    spec: {
      selector: { matchLabels: selector(AGENT_NAME) },
      // One node at a time by default: an agent that will not start is caught on the first node.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: labels(AGENT_NAME) },
        spec: {
          serviceAccountName: AGENT_NAME,
          automountServiceAccountToken: false,
          // Hints and events name processes by host pid (and start time); the enforcer acts on those pids.
          hostPID: true,
          nodeSelector: { ...c.agent.nodeSelector },
          tolerations: c.agent.tolerations.map((t) => ({ ...t })),
          // SIGTERM detaches the probes and flushes the collector's queue (as the systemd unit's TimeoutStopSec).
          terminationGracePeriodSeconds: 90,
          containers: [
            {
              name: 'agent',
              image: c.image,
              imagePullPolicy: c.imagePullPolicy,
              command: ['pageloop'],
              args: ['agent', '--config', CONFIG_PATH],
              env: [
                // The node, not the pod: a pod's name changes with every restart, the host's identity must not.
                { name: 'PAGELOOP_HOST', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'HOME', value: '/tmp' },
                ...metricsCredentialsEnv(c),
              ],
              ports: [{ name: METRICS_PORT_NAME, containerPort: port, protocol: 'TCP' }],
              livenessProbe: { ...probe(20), initialDelaySeconds: 15 },
              readinessProbe: probe(10),
              resources: resources(c.agent.resources),
              securityContext: {
                // uid 0: owner of the bpffs directory and of the cgroup files memory.reclaim writes.
                runAsUser: 0,
                runAsNonRoot: false,
                privileged: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'], add: [...AGENT_CAPABILITIES] },
                // Default seccomp profiles of container runtimes that predate CAP_BPF/CAP_PERFMON let bpf()
                // and perf_event_open() through only with CAP_SYS_ADMIN; unconfined keeps SYS_ADMIN out.
                seccompProfile: { type: 'Unconfined' },
                // The runtimes' default AppArmor profile denies writes under /sys/fs/bpf and ptrace reads of
                // processes outside the container: the pin and /proc/PID/maps both need those.
                appArmorProfile: { type: 'Unconfined' },
              },
              volumeMounts: [
                { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                // The pinned hint map outlives the container: a restarted agent finds the hints it acted on.
                { name: 'bpffs', mountPath: BPFFS, mountPropagation: 'HostToContainer' },
                // The host's cgroup2 hierarchy, writable, for memory.reclaim (cgroup-wide hints).
                { name: 'cgroup', mountPath: HOST_CGROUP },
                // The hint ids acted on: a restarted pod acts on none of them again.
                { name: 'state', mountPath: AGENT_STATE_DIR },
                { name: TMP_VOLUME, mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: CONFIG_MAP_NAME } },
            // Directory, not DirectoryOrCreate: an empty directory would not be a bpffs and the pin would fail later, less clearly.
            { name: 'bpffs', hostPath: { path: BPFFS, type: 'Directory' } },
            { name: 'cgroup', hostPath: { path: HOST_CGROUP, type: 'Directory' } },
            // Created on a new node; the agent makes it 0700.
            { name: 'state', hostPath: { path: AGENT_STATE_DIR, type: 'DirectoryOrCreate' } },
            { name: TMP_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
          ],
        },
      },
    },
  });
  // Headless: Prometheus scrapes every agent pod, not a load-balanced one.
  const service = new Service({
    metadata: { ...meta(c, `${AGENT_NAME}-metrics`, { [METRICS_LABEL]: 'true' }) },
    spec: {
      clusterIP: 'None',
      selector: selector(AGENT_NAME),
      ports: [{ name: METRICS_PORT_NAME, port, targetPort: METRICS_PORT_NAME, protocol: 'TCP' }],
    },
  });
  return [serviceAccount, daemonSet, service];
}
