/**
 * The Kafka runner's settings (processors/runner.ts): DEFAULT_RUNNER_CONFIG
 * and validateRunnerConfig, whose errors name the key.
 */
import { UsageError } from '../lib/errors.js';
import type { ProcessorTopics } from './topics.js';
import { validateProcessorConfig, type ProcessorConfig } from './config.js';

export interface RunnerConfig {
  /** Consumer group of the processors (instances with the same group share the partitions). */
  readonly groupId: string;
  /** This instance, for client ids and logs (fencing does not depend on it). */
  readonly instanceId: string;
  readonly topics: ProcessorTopics;
  readonly checkpointEveryRecords: number;
  readonly checkpointIntervalMs: number;
  /**
   * A checkpoint also waits until this many times its predecessor's size of
   * input has been applied since (0: never waits). 2 by default: writing
   * the state costs at most about half the input's bytes again, and a
   * restore replays at most twice the state's size of input.
   */
  readonly checkpointInputRatio: number;
  /** At most this many input records per transaction. */
  readonly maxRecordsPerTransaction: number;
  /**
   * Input partitions processed at once: while one waits for its transaction
   * to commit, another computes (each partition has its own producer and
   * state, so this never changes what is output). Six by default: with two
   * engine workers and read-ahead, six did x1.11 against three (BENCHMARKS.md).
   */
  readonly partitionsConcurrently: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBytesPerPartition: number;
  /** How long a restore waits to catch up with the state changelog. */
  readonly restoreTimeoutMs: number;
  readonly transactionTimeoutMs: number;
  /** Create missing output/state topics (with the declared configs) at start. */
  readonly createTopics: boolean;
  /**
   * Worker threads for the partition engines (processors/engine-host.ts);
   * 0: the engines run in the main thread. With workers, computing overlaps
   * Kafka's work (fetching, producing, committing) in the main thread, and
   * one instance's engines use several cores. Outputs are the same either
   * way. Two by default: a warm instance on 2 cores shared with the broker
   * did x1.13 with two against none, and never worse than with one
   * (BENCHMARKS.md); 0 suits a host with a single core.
   */
  readonly engineWorkers: number;
  /**
   * Read ahead: a partition's next batch is fetched while its current one is
   * processed (kafkajs fetches only after every batch of its last fetch is
   * done). A partition's batches are still processed one at a time, in
   * order, and committed in transactions as without it, so outputs are the
   * same. On by default: x1.09 for one warm instance with two engine
   * workers, x1.00 with none (BENCHMARKS.md).
   */
  readonly readAhead: boolean;
  /**
   * Replicas of the output topics this runner creates when they are missing
   * (createTopics); 0: min(3, brokers in the cluster), as `pageloop kafka
   * topics` would. 1 on a cluster would leave outputs unwritable while one
   * broker is down.
   */
  readonly replicationFactor: number;
}

/** More engine workers than this is a typo: an instance has far fewer cores. */
export const MAX_ENGINE_WORKERS = 64;

export const DEFAULT_RUNNER_CONFIG: Omit<RunnerConfig, 'groupId' | 'instanceId' | 'topics'> = Object.freeze({
  checkpointEveryRecords: 500,
  checkpointIntervalMs: 10_000,
  checkpointInputRatio: 2,
  maxRecordsPerTransaction: 2000,
  partitionsConcurrently: 6,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  maxBytesPerPartition: 8 * 1024 * 1024,
  restoreTimeoutMs: 60_000,
  transactionTimeoutMs: 60_000,
  createTopics: true,
  engineWorkers: 2,
  readAhead: true,
  replicationFactor: 0,
});

export function validateRunnerConfig(r: RunnerConfig): void {
  const pos = (key: keyof RunnerConfig, v: number): void => {
    if (!Number.isSafeInteger(v) || v < 1) throw new UsageError(`runner.${key}: must be a positive integer, got ${JSON.stringify(v)}`);
  };
  if (!r.groupId) throw new UsageError('runner.groupId: must be a non-empty string');
  if (!r.instanceId) throw new UsageError('runner.instanceId: must be a non-empty string');
  pos('checkpointEveryRecords', r.checkpointEveryRecords);
  pos('checkpointIntervalMs', r.checkpointIntervalMs);
  if (typeof r.checkpointInputRatio !== 'number' || !Number.isFinite(r.checkpointInputRatio) || r.checkpointInputRatio < 0 || r.checkpointInputRatio > 1000) {
    throw new UsageError(`runner.checkpointInputRatio: must be a number from 0 (no wait) to 1000, got ${JSON.stringify(r.checkpointInputRatio)}`);
  }
  pos('maxRecordsPerTransaction', r.maxRecordsPerTransaction);
  pos('partitionsConcurrently', r.partitionsConcurrently);
  pos('sessionTimeoutMs', r.sessionTimeoutMs);
  pos('heartbeatIntervalMs', r.heartbeatIntervalMs);
  pos('maxBytesPerPartition', r.maxBytesPerPartition);
  pos('restoreTimeoutMs', r.restoreTimeoutMs);
  pos('transactionTimeoutMs', r.transactionTimeoutMs);
  if (!Number.isSafeInteger(r.replicationFactor) || r.replicationFactor < 0) {
    throw new UsageError(`runner.replicationFactor: must be an integer >= 0 (0: from the cluster's size), got ${JSON.stringify(r.replicationFactor)}`);
  }
  if (!Number.isSafeInteger(r.engineWorkers) || r.engineWorkers < 0 || r.engineWorkers > MAX_ENGINE_WORKERS) {
    throw new UsageError(`runner.engineWorkers: must be an integer from 0 (engines in the main thread) to ${MAX_ENGINE_WORKERS}, got ${JSON.stringify(r.engineWorkers)}`);
  }
  if (r.heartbeatIntervalMs >= r.sessionTimeoutMs) throw new UsageError('runner.heartbeatIntervalMs: must be below sessionTimeoutMs');
}

/** What a processor instance is: the model (scores, phases, planner, tuner) and how it runs against Kafka. */
export interface ProcessorComponentConfig {
  readonly model: ProcessorConfig;
  readonly runner: RunnerConfig;
}

/** Checks both halves; errors name the key (processors.KEY for the model, runner.KEY). */
export function validateProcessorComponentConfig(config: ProcessorComponentConfig): void {
  validateProcessorConfig(config.model);
  validateRunnerConfig(config.runner);
}
