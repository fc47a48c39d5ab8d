/**
 * A consumer stop that stays stopped.
 *
 * kafkajs 2.2.4 can bring a consumer back after `disconnect()` resolved:
 * its Runner.stop() returns at once while Runner.start() is still joining
 * the group (`running` is only set once the join is done), so a disconnect
 * that lands during a start (the first one, or a restart after a crash,
 * which is when brokers are coming back) leaves that start going. It
 * reconnects, joins, and fetches again: the process does not exit, and the
 * handlers run on state the caller has already closed. The chaos run saw
 * it as the agent, the sink and a processor not exiting after SIGTERM.
 *
 * Two parts, both needed (the chaos run showed the second without the
 * first: stop, revive, crash on the closed connection, restart, revive...):
 * - `createStoppableConsumer` makes the consumer with kafkajs's
 *   `restartOnFailure` answering no once it is stopped, so a crash after
 *   the stop (the disconnect closed the connections a start was using)
 *   does not schedule another start;
 * - `stopForGood` disconnects and, from then on, disconnects again on any
 *   sign of life (a group join or a fetch), after the join that emitted it
 *   has finished, so that Runner.stop() finds it running.
 */
import type { Consumer, ConsumerConfig, Kafka } from 'kafkajs';
import { errorMessage } from '../lib/errors.js';

export interface StopForGoodOptions {
  /** Told when a consumer came back after its stop and is being stopped again. */
  readonly log?: (line: string) => void;
}

const stopped = new WeakSet<Consumer>();

/** kafka.consumer(config), restarted by kafkajs after a crash only until stopForGood. */
export function createStoppableConsumer(kafka: Kafka, config: ConsumerConfig): Consumer {
  // kafkajs's own default for a consumer is { retries: 5 } over the client's retry settings.
  const retry = config.retry ?? { retries: 5 };
  const consumer: Consumer = kafka.consumer({
    ...config,
    retry: {
      ...retry,
      restartOnFailure: async (err: Error) => !stopped.has(consumer) && (retry.restartOnFailure ? retry.restartOnFailure(err) : true),
    },
  });
  return consumer;
}

/** True once stopForGood was called for this consumer: handlers use it to do nothing. */
export function isStoppedForGood(consumer: Consumer): boolean {
  return stopped.has(consumer);
}

export async function stopForGood(consumer: Consumer, options: StopForGoodOptions = {}): Promise<void> {
  if (!stopped.has(consumer)) {
    stopped.add(consumer);
    let again: Promise<void> | undefined;
    const revived = (what: string) => () => {
      if (again) return;
      // setImmediate: the join that emitted this sets Runner.running only when it returns.
      again = new Promise<void>((resolve) => setImmediate(resolve))
        .then(async () => {
          options.log?.(`consumer came back after its stop (${what}): stopping it again`);
          await consumer.disconnect();
        })
        .catch((err: unknown) => options.log?.(`stopping the revived consumer: ${errorMessage(err)}`))
        .finally(() => {
          again = undefined;
        });
    };
    consumer.on(consumer.events.GROUP_JOIN, revived('joined its group'));
    consumer.on(consumer.events.FETCH_START, revived('fetching'));
  }
  await consumer.disconnect();
}
