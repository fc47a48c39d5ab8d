/**
 * Where the local Kafka keeps things, and the two files it writes before
 * every start: server.properties and log4j.properties. One node lives in
 * dataDir itself (the layout since the first release); the nodes of a
 * cluster each get <dataDir>/node-<id>, and the state file listing them all
 * stays in dataDir, where kafka/local-state.ts looks for it.
 */
import { join } from 'node:path';
import { replicationFactorFor } from '../../schemas/topics.js';
import { nodeAddresses, type LocalKafkaConfig, type NodeAddress } from './config.js';

/** The jar cache of one version, shared by every node and data directory. */
export interface InstallPaths {
  readonly installDir: string;
  readonly libDir: string;
  readonly marker: string;
  readonly m2: string;
}

/** One node's files. */
export interface NodePaths {
  readonly dir: string;
  readonly serverProperties: string;
  readonly log4jProperties: string;
  readonly logDirs: string;
  readonly appLogs: string;
  readonly metaProperties: string;
  readonly pidFile: string;
}

export interface LocalNode extends NodeAddress {
  readonly bootstrap: string;
  readonly controller: string;
  readonly paths: NodePaths;
}

export function installPaths(c: Pick<LocalKafkaConfig, 'cacheDir' | 'version'>): InstallPaths {
  const installDir = join(c.cacheDir, `kafka-${c.version}`);
  return { installDir, libDir: join(installDir, 'libs'), marker: join(installDir, '.installed.json'), m2: join(c.cacheDir, 'm2') };
}

export function nodePaths(dir: string): NodePaths {
  const logDirs = join(dir, 'data');
  return {
    dir,
    serverProperties: join(dir, 'server.properties'),
    log4jProperties: join(dir, 'log4j.properties'),
    logDirs,
    appLogs: join(dir, 'logs'),
    metaProperties: join(logDirs, 'meta.properties'),
    pidFile: join(dir, 'kafka.pid'),
  };
}

/** A cluster node's directory; a single node uses dataDir itself. */
export function clusterNodeDir(dataDir: string, nodeId: number): string {
  return join(dataDir, `node-${nodeId}`);
}

export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The nodes of this config, with their addresses and files. */
export function localNodes(c: LocalKafkaConfig): LocalNode[] {
  return nodeAddresses(c).map((n) => ({
    ...n,
    bootstrap: hostPort(c.host, n.port),
    controller: hostPort(c.host, n.controllerPort),
    paths: nodePaths(c.brokers === 1 ? c.dataDir : clusterNodeDir(c.dataDir, n.nodeId)),
  }));
}

/** Properties-file escaping: backslash is the only character in a path that needs it. */
function prop(value: string): string {
  return value.replace(/\\/g, '\\\\');
}

/**
 * Replication of the internal topics and the default for new ones: 3 copies
 * (2 in sync to accept a write) once there are 3 nodes, so one node can be
 * lost without losing a committed record or stopping writes; all there is
 * below that.
 */
export function replicationFor(nodes: number): { readonly factor: number; readonly minIsr: number } {
  const factor = replicationFactorFor(nodes);
  return { factor, minIsr: factor >= 3 ? factor - 1 : 1 };
}

/** The secure listener's name: SASL_SSL with users, SSL without. */
export function secureProtocol(c: LocalKafkaConfig): 'SASL_SSL' | 'SSL' | undefined {
  return c.secure === undefined ? undefined : c.secure.users ? 'SASL_SSL' : 'SSL';
}

/** server.properties lines of the secure listener (PEM key store and trust store, SASL PLAIN and SCRAM). */
function secureProperties(c: LocalKafkaConfig): string[] {
  const s = c.secure;
  const proto = secureProtocol(c);
  if (!s || !proto) return [];
  const lines = ['ssl.keystore.type=PEM', `ssl.keystore.location=${prop(s.keystore)}`];
  if (s.truststore) lines.push('ssl.truststore.type=PEM', `ssl.truststore.location=${prop(s.truststore)}`, `listener.name.${proto.toLowerCase()}.ssl.client.auth=required`);
  if (s.users) {
    const plainUsers = Object.entries(s.users).map(([u, pw]) => `user_${u}="${pw}"`).join(' ');
    lines.push(
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    );
  }
  return lines;
}

/** format's --add-scram arguments: each user's SCRAM credentials go into the metadata log at format time (KRaft). */
export function scramFormatArgs(c: LocalKafkaConfig): string[] {
  return Object.entries(c.secure?.users ?? {}).flatMap(([u, pw]) => ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u},password=${pw}]`]));
}

export function serverProperties(c: LocalKafkaConfig, node: LocalNode, all: readonly LocalNode[]): string {
  const { factor, minIsr } = replicationFor(all.length);
  const proto = secureProtocol(c);
  const secure = proto && c.secure ? `,${proto}://${hostPort(c.host, c.secure.port)}` : '';
  return [
    '# Written by pageloop on every start (deploy/kafka/files.ts); edits are overwritten.',
    'process.roles=broker,controller',
    `node.id=${node.nodeId}`,
    // A static voter set: a changed port only needs a restart, never a re-format.
    `controller.quorum.voters=${all.map((n) => `${n.nodeId}@${n.controller}`).join(',')}`,
    `listeners=PLAINTEXT://${node.bootstrap},CONTROLLER://${node.controller}${secure}`,
    `advertised.listeners=PLAINTEXT://${node.bootstrap}${secure}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${proto ? `,${proto}:${proto}` : ''}`,
    ...secureProperties(c),
    `log.dirs=${prop(node.paths.logDirs)}`,
    // Topics are declared in schemas/topics.ts; a typo in a topic name must fail, not create a topic.
    'auto.create.topics.enable=false',
    'num.partitions=1',
    `default.replication.factor=${factor}`,
    `offsets.topic.replication.factor=${factor}`,
    'offsets.topic.num.partitions=8',
    `transaction.state.log.replication.factor=${factor}`,
    `transaction.state.log.min.isr=${minIsr}`,
    'transaction.state.log.num.partitions=8',
    `min.insync.replicas=${minIsr}`,
    // 0 by default: one member per group locally, no reason to wait 3 s for more to join.
    `group.initial.rebalance.delay.ms=${c.groupInitialRebalanceDelayMs}`,
    // Two cores: the defaults (3 network, 8 io threads) only add contention.
    'num.network.threads=2',
    'num.io.threads=4',
    'num.recovery.threads.per.data.dir=1',
    // The cleaner's default 128 MiB dedupe buffer is a quarter of the heap; local compacted topics are tiny.
    'log.cleaner.dedupe.buffer.size=16777216',
    'log.cleaner.threads=1',
    '',
  ].join('\n');
}

export function log4jProperties(p: NodePaths): string {
  const file = prop(join(p.appLogs, 'server.log'));
  return [
    '# Written by pageloop: the broker logs to a file so the console stays quiet.',
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.RollingFileAppender',
    `log4j.appender.file.File=${file}`,
    'log4j.appender.file.MaxFileSize=20MB',
    'log4j.appender.file.MaxBackupIndex=3',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.kafka.request.logger=WARN',
    'log4j.logger.kafka.authorizer.logger=WARN',
    '',
  ].join('\n');
}
