/**
 * Kafka through the Strimzi operator: a KRaft `Kafka` whose nodes come from
 * one `KafkaNodePool` (every node a broker and a controller), and one
 * `KafkaTopic` per declared pageloop topic (schemas/topics.ts), so the
 * operator keeps partitions and configs as declared.
 *
 * kubernetes-models has no Strimzi models, so they are defined here: typed
 * interfaces of the part of the kafka.strimzi.io/v1beta2 CRDs these objects
 * use, and a JSON schema of that part (required fields, types, enums as
 * the CRDs state them) behind the same Model.validate() the library's
 * objects have.
 */
import { Model, setValidateFunc, type ModelData } from '@kubernetes-models/base';
import AjvModule from 'ajv';
import { declaredTopics } from '../../schemas/topics.js';
import type { KubernetesConfig } from './config.js';
import { labels, resources, type IObjectMeta, type ManifestObject } from './common.js';

// ajv is CommonJS: its default export arrives as the module namespace's `default` under NodeNext.
const Ajv = AjvModule.default ?? AjvModule;
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });

export const STRIMZI_API_VERSION = 'kafka.strimzi.io/v1beta2';

export interface StrimziListener {
  readonly name: string;
  readonly port: number;
  readonly type: 'internal' | 'route' | 'loadbalancer' | 'nodeport' | 'ingress' | 'cluster-ip';
  readonly tls: boolean;
}

export interface IKafka {
  apiVersion: typeof STRIMZI_API_VERSION;
  kind: 'Kafka';
  metadata: IObjectMeta;
  spec: {
    kafka: { version: string; listeners: StrimziListener[]; config: Record<string, string | number | boolean> };
    entityOperator: { topicOperator: Record<string, never>; userOperator: Record<string, never> };
  };
}

export interface StrimziVolume {
  readonly id: number;
  readonly type: 'persistent-claim' | 'ephemeral';
  readonly size: string;
  readonly deleteClaim: boolean;
  /** Which volume keeps the KRaft metadata log. */
  readonly kraftMetadata?: 'shared';
}

export interface IKafkaNodePool {
  apiVersion: typeof STRIMZI_API_VERSION;
  kind: 'KafkaNodePool';
  metadata: IObjectMeta;
  spec: {
    replicas: number;
    roles: ('controller' | 'broker')[];
    storage: { type: 'jbod'; volumes: StrimziVolume[] };
    resources?: ReturnType<typeof resources>;
  };
}

export interface IKafkaTopic {
  apiVersion: typeof STRIMZI_API_VERSION;
  kind: 'KafkaTopic';
  metadata: IObjectMeta;
  spec: { topicName: string; partitions: number; replicas: number; config: Record<string, string> };
}

const NAME = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 };
const QUANTITY = { type: 'string', pattern: '^\\d+(\\.\\d+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$' };
const METADATA = {
  type: 'object',
  required: ['name', 'namespace'],
  properties: { name: NAME, namespace: NAME, labels: { type: 'object', additionalProperties: { type: 'string' } }, annotations: { type: 'object', additionalProperties: { type: 'string' } } },
};
const RESOURCES = {
  type: 'object',
  properties: {
    requests: { type: 'object', additionalProperties: QUANTITY },
    limits: { type: 'object', additionalProperties: QUANTITY },
  },
  additionalProperties: false,
};
const envelope = (kind: string, spec: object) => ({
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: { apiVersion: { const: STRIMZI_API_VERSION }, kind: { const: kind }, metadata: METADATA, spec },
});

const KAFKA_SCHEMA = envelope('Kafka', {
  type: 'object',
  required: ['kafka'],
  additionalProperties: false,
  properties: {
    kafka: {
      type: 'object',
      required: ['listeners'],
      additionalProperties: false,
      properties: {
        version: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+$' },
        listeners: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['name', 'port', 'type', 'tls'],
            additionalProperties: false,
            // Strimzi: lower-case letters and digits, at most 11; ports 9092 and up (lower ones are the operator's).
            properties: {
              name: { type: 'string', pattern: '^[a-z0-9]{1,11}$' },
              port: { type: 'integer', minimum: 9092, maximum: 65535 },
              type: { enum: ['internal', 'route', 'loadbalancer', 'nodeport', 'ingress', 'cluster-ip'] },
              tls: { type: 'boolean' },
            },
          },
        },
        config: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
      },
    },
    entityOperator: {
      type: 'object',
      additionalProperties: false,
      properties: { topicOperator: { type: 'object' }, userOperator: { type: 'object' } },
    },
  },
});

const NODE_POOL_SCHEMA = envelope('KafkaNodePool', {
  type: 'object',
  required: ['replicas', 'roles', 'storage'],
  additionalProperties: false,
  properties: {
    replicas: { type: 'integer', minimum: 0 },
    roles: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['controller', 'broker'] } },
    storage: {
      type: 'object',
      required: ['type', 'volumes'],
      additionalProperties: false,
      properties: {
        type: { const: 'jbod' },
        volumes: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['id', 'type'],
            additionalProperties: false,
            properties: {
              id: { type: 'integer', minimum: 0 },
              type: { enum: ['persistent-claim', 'ephemeral'] },
              size: QUANTITY,
              deleteClaim: { type: 'boolean' },
              kraftMetadata: { const: 'shared' },
            },
          },
        },
      },
    },
    resources: RESOURCES,
  },
});

const TOPIC_SCHEMA = envelope('KafkaTopic', {
  type: 'object',
  required: ['partitions', 'replicas'],
  additionalProperties: false,
  properties: {
    topicName: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,249}$' },
    partitions: { type: 'integer', minimum: 1 },
    replicas: { type: 'integer', minimum: 1, maximum: 32767 },
    config: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
  },
});

export class Kafka extends Model<IKafka> implements IKafka {
  declare apiVersion: IKafka['apiVersion'];
  declare kind: IKafka['kind'];
  declare metadata: IKafka['metadata'];
  declare spec: IKafka['spec'];
  constructor(data?: ModelData<IKafka>) {
    super();
    this.setDefinedProps({ apiVersion: STRIMZI_API_VERSION, kind: 'Kafka', ...data } as never);
  }
}
setValidateFunc(Kafka, ajv.compile<IKafka>(KAFKA_SCHEMA));

export class KafkaNodePool extends Model<IKafkaNodePool> implements IKafkaNodePool {
  declare apiVersion: IKafkaNodePool['apiVersion'];
  declare kind: IKafkaNodePool['kind'];
  declare metadata: IKafkaNodePool['metadata'];
  declare spec: IKafkaNodePool['spec'];
  constructor(data?: ModelData<IKafkaNodePool>) {
    super();
    this.setDefinedProps({ apiVersion: STRIMZI_API_VERSION, kind: 'KafkaNodePool', ...data } as never);
  }
}
setValidateFunc(KafkaNodePool, ajv.compile<IKafkaNodePool>(NODE_POOL_SCHEMA));

export class KafkaTopic extends Model<IKafkaTopic> implements IKafkaTopic {
  declare apiVersion: IKafkaTopic['apiVersion'];
  declare kind: IKafkaTopic['kind'];
  declare metadata: IKafkaTopic['metadata'];
  declare spec: IKafkaTopic['spec'];
  constructor(data?: ModelData<IKafkaTopic>) {
    super();
    this.setDefinedProps({ apiVersion: STRIMZI_API_VERSION, kind: 'KafkaTopic', ...data } as never);
  }
}
setValidateFunc(KafkaTopic, ajv.compile<IKafkaTopic>(TOPIC_SCHEMA));

export const PLAIN_LISTENER_PORT = 9092;

/** The replication the cluster's size allows: 3 copies and min.insync.replicas 2 from 3 nodes up. */
export function replicationFor(nodes: number): { replicationFactor: number; minInsync: number } {
  const replicationFactor = Math.min(3, nodes);
  return { replicationFactor, minInsync: Math.max(1, replicationFactor - 1) };
}

export function strimziObjects(c: KubernetesConfig): ManifestObject[] {
  const s = c.kafka.strimzi;
  const { replicationFactor, minInsync } = replicationFor(s.replicas);
  const clusterLabel = { 'strimzi.io/cluster': s.clusterName };
  const kafka = new Kafka({
    metadata: {
      name: s.clusterName,
      namespace: c.namespace,
      labels: labels('pageloop-kafka'),
      // KRaft with node pools; operators from 0.46 on run nothing else and ignore both.
      annotations: { 'strimzi.io/node-pools': 'enabled', 'strimzi.io/kraft': 'enabled' },
    },
    spec: {
      kafka: {
        version: s.version,
        listeners: [
          { name: 'plain', port: PLAIN_LISTENER_PORT, type: 'internal', tls: false },
          { name: 'tls', port: 9093, type: 'internal', tls: true },
        ],
        config: {
          // The processors commit every output in Kafka transactions: their state log must survive a broker too.
          'transaction.state.log.replication.factor': replicationFactor,
          'transaction.state.log.min.isr': minInsync,
          'offsets.topic.replication.factor': replicationFactor,
          'default.replication.factor': replicationFactor,
          'min.insync.replicas': minInsync,
          // Topics come from the KafkaTopic objects below (the declaration), never from a typo'd producer.
          'auto.create.topics.enable': false,
        },
      },
      entityOperator: { topicOperator: {}, userOperator: {} },
    },
  });
  const pool = new KafkaNodePool({
    metadata: { name: `${s.clusterName}-dual-role`, namespace: c.namespace, labels: { ...labels('pageloop-kafka'), ...clusterLabel } },
    spec: {
      replicas: s.replicas,
      roles: ['controller', 'broker'],
      storage: { type: 'jbod', volumes: [{ id: 0, type: 'persistent-claim', size: s.storageSize, deleteClaim: false, kraftMetadata: 'shared' }] },
      resources: resources(s.resources),
    },
  });
  const topics = declaredTopics({ replicationFactor }).map(
    (t) =>
      new KafkaTopic({
        // Topic names are valid object names here (lower case, digits, '.', '-'); topicName keeps the exact one.
        metadata: { name: t.name, namespace: c.namespace, labels: { ...labels('pageloop-kafka'), ...clusterLabel } },
        spec: { topicName: t.name, partitions: t.partitions, replicas: t.replicationFactor, config: { ...t.configs } },
      }),
  );
  return [kafka, pool, ...topics];
}
