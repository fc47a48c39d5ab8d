import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Consumer } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { waitForLeaders } from '../schemas/topics.js';
import { createStoppableConsumer, isStoppedForGood, stopForGood } from './consumer-stop.js';

const TOPIC = 'pageloop.test.consumer-stop';

/** The group's state and member count, from the broker. */
async function groupOf(admin: Admin, groupId: string): Promise<{ state: string; members: number }> {
  const { groups } = await admin.describeGroups([groupId]);
  return { state: groups[0]?.state ?? 'Dead', members: groups[0]?.members.length ?? 0 };
}

async function until(what: string, withinMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs / 1000} s: ${what}`);
    await sleep(250);
  }
}

describe('stopForGood on a real broker', () => {
  let broker: TestBroker;
  let admin: Admin;

  before(async () => {
    // The broker holds a group's first join for 3 s: the window in which a disconnect meets a start.
    broker = await startTestBroker({ groupInitialRebalanceDelayMs: 3000 });
    admin = broker.kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: false, topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 1 }] });
    await waitForLeaders(admin, [{ name: TOPIC, partitions: 1 }]);
  });

  after(async () => {
    await admin?.disconnect();
    await broker?.close();
  });

  /**
   * A consumer whose disconnect lands while its JoinGroup is held by the
   * broker: the closed connection fails the join, kafkajs restarts the
   * consumer (a retriable crash), and that start no longer knows of the stop.
   */
  async function disconnectDuringStart(
    groupId: string,
    stop: (c: Consumer) => Promise<void>,
    stoppable: boolean,
  ): Promise<{ consumer: Consumer; handled: () => number; crashes: boolean[] }> {
    const config = { groupId, sessionTimeout: 10_000, heartbeatInterval: 500 };
    const consumer = stoppable ? createStoppableConsumer(broker.kafka, config) : broker.kafka.consumer(config);
    let handled = 0;
    // Each crash's verdict: did kafkajs schedule another start?
    const crashes: boolean[] = [];
    consumer.on(consumer.events.CRASH, (e) => void crashes.push(e.payload.restart));
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    const running = consumer.run({ eachMessage: async () => void handled++ });
    await until('the join is held by the broker', 20_000, async () => /Rebalance/.test((await groupOf(admin, groupId)).state));
    await stop(consumer);
    await running;
    return { consumer, handled: () => handled, crashes };
  }

  it('a plain disconnect during the start comes back: it joins and consumes (the kafkajs race)', async () => {
    const groupId = 'consumer-stop-plain';
    const { consumer, handled } = await disconnectDuringStart(groupId, (c) => c.disconnect(), false);
    const producer = broker.kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPIC, messages: [{ value: 'after the stop' }] });
    await producer.disconnect();
    try {
      await until('the disconnected consumer is a member again and handles the record', 30_000, async () => (await groupOf(admin, groupId)).members === 1 && handled() > 0);
    } finally {
      await stopForGood(consumer);
    }
  });

  it('a stoppable consumer stopped for good during the start stays stopped: no restart, the group ends empty, no record handled', async () => {
    const groupId = 'consumer-stop-for-good';
    const lines: string[] = [];
    const { consumer, handled, crashes } = await disconnectDuringStart(groupId, (c) => stopForGood(c, { log: (l) => lines.push(l) }), true);
    assert.ok(isStoppedForGood(consumer));
    const producer = broker.kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPIC, messages: [{ value: 'after the stop' }] });
    await producer.disconnect();
    // The join fails on the closed connection and is not restarted (or, had it joined, it is stopped again);
    // the member whose join completed on the closed connection times out (10 s).
    await until('the group is empty', 30_000, async () => (await groupOf(admin, groupId)).members === 0);
    // Long enough for a revived fetch loop to have handled the record.
    await sleep(3000);
    const g = await groupOf(admin, groupId);
    assert.equal(g.members, 0, `members after the stop: ${JSON.stringify(g)}; ${lines.join('; ')}`);
    assert.equal(handled(), 0, 'records handled after the stop');
    assert.ok(crashes.length + lines.length > 0, 'the start crashed or came back after the stop (the race happened)');
    assert.deepEqual(crashes.filter((restart) => restart), [], 'no crash after the stop scheduled a restart');
    assert.ok(lines.every((l) => /came back after its stop/.test(l)), lines.join('; '));
  });
});
