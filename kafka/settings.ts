/**
 * The one place where a component's Kafka settings are merged: flags over
 * the config file's `kafka` section, the role's defaults last. Every command
 * (collector, feedback, agent, processors, sink, kafka topics) calls this,
 * so a key added to the config file works for all of them at once.
 */
import kafkajs, { type Kafka } from 'kafkajs';
import type { PageloopConfig } from '../schemas/validate.js';
import { kafkaConfigFromSettings, type KafkaSettings } from './client.js';

/** Who is connecting: part of the client id, so broker logs and quotas tell the roles apart. */
export type KafkaRole = 'collector' | 'feedback' | 'agent' | 'processors' | 'replay' | 'sink' | 'kafka' | 'up';

export interface KafkaFlags {
  /** --brokers: replaces the file's list when non-empty. */
  readonly brokers?: readonly string[];
  /** --ssl: TLS with the system CAs when the file sets no ssl of its own. */
  readonly ssl?: boolean;
}

/**
 * Settings for one role. The client id is the file's `clientId` with the role
 * appended, else `pageloop-<role>`, then `-<instance>` when given (the host of a
 * per-host role, a processor's instance id).
 */
export function kafkaSettingsFor(role: KafkaRole, file: PageloopConfig['kafka'], flags: KafkaFlags = {}, instance?: string): KafkaSettings {
  const brokers = flags.brokers && flags.brokers.length > 0 ? flags.brokers : file?.brokers ?? [];
  const clientId = `${file?.clientId ?? 'pageloop'}-${role}${instance ? `-${instance}` : ''}`;
  return {
    brokers: [...brokers],
    clientId,
    ...(file?.ssl !== undefined ? { ssl: file.ssl } : flags.ssl ? { ssl: true } : {}),
    ...(file?.sasl ? { sasl: file.sasl } : {}),
  };
}

/** A kafkajs client for these settings (brokers resolved as kafka/client.ts says). */
export function createKafka(settings: KafkaSettings, env: Readonly<Record<string, string | undefined>> = process.env): Kafka {
  return new kafkajs.Kafka(kafkaConfigFromSettings(settings, env));
}
