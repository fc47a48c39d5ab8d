/**
 * Reads the processor-state changelog (compacted, read_committed) and keeps
 * the latest checkpoint of each input partition of one consumer group, so a
 * partition assigned to this instance starts from its checkpoint instead of
 * re-reading the whole input.
 *
 * A checkpoint only ever lands in the transaction that commits the input
 * offsets it stands for, so any committed checkpoint is a consistent
 * starting point; being caught up with the changelog only makes the replay
 * from it to the committed offset shorter. "Caught up" = this reader has
 * seen the partition up to the high watermark read after the new owner
 * fenced the old one (whose open transaction is then aborted, so the last
 * stable offset reaches the high watermark).
 */
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PageloopError, errorMessage } from '../lib/errors.js';
import { createStoppableConsumer, stopForGood } from '../kafka/consumer-stop.js';
import { STATE_MAX_MESSAGE_BYTES } from '../schemas/topics.js';
import { retrying } from './topics.js';

export interface ChangelogReaderOptions {
  readonly stateTopic: string;
  /** `${group}|${inputTopic}|`: records of other groups and inputs are ignored. */
  readonly keyPrefix: string;
  /** The reader's own consumer group (never commits; one per reader). */
  readonly readerGroupId: string;
  readonly log?: (line: string) => void;
}

/** The changelog key of an input partition's checkpoint. */
export function stateKey(groupId: string, inputTopic: string, partition: number): string {
  return `${groupId}|${inputTopic}|${partition}`;
}

export class ChangelogReader {
  private consumer: Consumer | undefined;
  private readonly latest = new Map<number, Buffer>();
  /** State partition -> last offset this reader has seen (control records included). */
  private readonly position = new Map<number, number>();
  private failure: unknown;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly options: ChangelogReaderOptions,
  ) {}

  async start(): Promise<void> {
    const consumer = createStoppableConsumer(this.kafka, {
      groupId: this.options.readerGroupId,
      readUncommitted: false,
      // Checkpoints can be large (topic max.message.bytes is 64 MiB).
      maxBytesPerPartition: STATE_MAX_MESSAGE_BYTES,
      maxBytes: 128 * 1024 * 1024,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const last = Number(e.payload.lastOffset);
      if (Number.isFinite(last) && last > (this.position.get(e.payload.partition) ?? -1)) this.position.set(e.payload.partition, last);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.failure = e.payload.error;
      this.options.log?.(`state reader crashed: ${errorMessage(e.payload.error)}${e.payload.restart ? ' (restarting)' : ''}`);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.options.stateTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const key = m.key?.toString() ?? '';
          if (!key.startsWith(this.options.keyPrefix)) continue;
          const p = Number(key.slice(this.options.keyPrefix.length));
          if (!Number.isInteger(p)) continue;
          if (m.value === null) this.latest.delete(p);
          else this.latest.set(p, m.value);
        }
      },
    });
  }

  /**
   * The latest committed checkpoint of input partition `p` (stored on state
   * partition `sp`), after catching up with that partition or `timeoutMs`.
   * `beat` keeps the caller's group membership alive while it waits.
   */
  async checkpointFor(p: number, sp: number, timeoutMs: number, beat: () => Promise<void>): Promise<{ checkpoint: Buffer | null; caughtUp: boolean }> {
    let offsets: { partition: number; high: string; low: string }[];
    try {
      offsets = await retrying(() => this.admin.fetchTopicOffsets(this.options.stateTopic));
    } catch (err) {
      throw new PageloopError('processor-restore', `cannot read the end offsets of ${this.options.stateTopic}: ${errorMessage(err)}`, { retriable: true, cause: err });
    }
    const o = offsets.find((x) => x.partition === sp);
    const high = Number(o?.high ?? 0);
    const low = Number(o?.low ?? 0);
    const until = Date.now() + timeoutMs;
    let caughtUp = high <= low;
    while (!caughtUp && Date.now() < until) {
      if ((this.position.get(sp) ?? -1) >= high - 1) caughtUp = true;
      else {
        await sleep(50);
        await beat();
      }
    }
    if (!caughtUp) {
      this.options.log?.(`state partition ${sp}: not caught up within ${timeoutMs} ms (at ${this.position.get(sp) ?? -1}, high ${high}${this.failure ? `, reader failed: ${errorMessage(this.failure)}` : ''}); using the newest checkpoint seen`);
    }
    return { checkpoint: this.latest.get(p) ?? null, caughtUp };
  }

  async stop(): Promise<void> {
    if (this.consumer) await stopForGood(this.consumer, this.options.log ? { log: this.options.log } : {}).catch(() => undefined);
  }
}
