/**
 * Helpers for the feedback tests against the real broker and kernel: the
 * identity of a live process, hints as the planner publishes them, and the
 * action records read back from pageloop.actions.v1.
 */
import type { Kafka } from 'kafkajs';
import { readProcStat, readBootId } from '../lib/procfs.js';
import { readTopic } from './broker.js';
import { TOPIC } from '../schemas/topics.js';
import type { ProcessId } from '../schemas/identity.js';
import { decodeHintAction, encodeHint, type Hint, type HintAction } from '../schemas/derived.js';
import { loadAddon } from '../bpf/native.js';
import { hintKeyOf, USER_HZ } from '../feedback/policy.js';

/** (host, boot id, pid, start time) of a live process, as the probes report it. */
export function identityOf(host: string, pid: number): ProcessId {
  return { host, bootId: readBootId(), pid, startNs: readProcStat(pid).startTicks * (1e9 / USER_HZ) };
}

export const bootNs = (): number => loadAddon().bootTimeNs();

let seq = 0;
export function makeHint(process: ProcessId, start: number, length: number, action: Hint['action'], over: Partial<Hint> = {}): Hint {
  const now = bootNs();
  return {
    hintId: `test-${process.host}-${++seq}`,
    process,
    region: { mapping: { kind: 'anon', path: '', ordinal: 0 }, offset: 0, start, length },
    action,
    pageSizeKb: action === 'promote' ? 2048 : 0,
    score: 1,
    reason: 'test',
    issuedNs: now,
    expiresNs: now + 600e9,
    cgroup: '',
    bytes: 0,
    ...over,
  };
}

export interface HintRecord {
  key: string;
  value: Buffer | null;
}

export const recordOf = (h: Hint): HintRecord => ({ key: hintKeyOf(h), value: Buffer.from(encodeHint(h)) });

export async function sendHints(kafka: Kafka, records: readonly HintRecord[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic: TOPIC.hints, acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value })) });
  } finally {
    await producer.disconnect();
  }
}

/** The action records of one host, read from the start of the topic until `enough` says so (or the time runs out). */
export async function actionsOf(kafka: Kafka, host: string, enough: (actions: HintAction[]) => boolean, timeoutMs = 30_000): Promise<HintAction[]> {
  const out: HintAction[] = [];
  await readTopic(
    kafka,
    TOPIC.actions,
    (records) => {
      for (const r of records.splice(0)) if (r.key === host && r.value) out.push(decodeHintAction(r.value));
      return enough(out);
    },
    timeoutMs,
  );
  return out;
}

/** Waits until `check` returns true, polling. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
