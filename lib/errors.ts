/**
 * Errors that say what is wrong and whether trying again can help
 * (the kafkajs/clickhouse-js convention). `retriable` is false for bad input.
 */
export class PageloopError extends Error {
  readonly retriable: boolean;
  readonly code: string;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PageloopError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Bad input from a person: a flag, a config key, a file. Never retriable. */
export class UsageError extends PageloopError {
  constructor(message: string) {
    super('usage', message);
    this.name = 'UsageError';
  }
}

/**
 * An error's message. One that gathers several (AggregateError, kafkajs's
 * KafkaJSAggregateError, whose message alone is "Topic creation errors")
 * lists theirs too, each after the topic it names if it names one.
 */
export function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const inner = (err as { errors?: unknown }).errors;
  if (!Array.isArray(inner) || inner.length === 0) return err.message;
  const each = inner.map((e: unknown) => {
    const topic = (e as { topic?: unknown } | null)?.topic;
    return `${typeof topic === 'string' ? `${topic}: ` : ''}${errorMessage(e)}`;
  });
  return `${err.message}: ${each.join('; ')}`;
}

/**
 * Whether trying again can help after an error (a PageloopError's or a
 * kafkajs error's own verdict): the one judgement every component shares.
 *
 * kafkajs marks an error that ran out of its own retries
 * (KafkaJSNumberOfRetriesExceeded) as not retriable, although its cause, a
 * broker down or a leader moving, passes with time; kafkajs's own consumer
 * restarts on it. Here it is judged by that cause, so a broker killed for
 * longer than kafkajs's retry budget does not stop a component for good.
 * The same for KafkaJSNonRetriableError, which carries the cause it wraps.
 * 'unknown' when the error carries no verdict (a plain Error).
 */
export function retryHelps(err: unknown): boolean | 'unknown' {
  for (let e: unknown = err, depth = 0; depth < 8; depth++) {
    if (e instanceof PageloopError) return e.retriable;
    if (typeof e !== 'object' || e === null) return 'unknown';
    const { name, retriable, cause } = e as { name?: unknown; retriable?: unknown; cause?: unknown };
    // A KafkaJSNonRetriableError is what an outer kafkajs retrier makes of an
    // inner one's NumberOfRetriesExceeded, keeping only its cause (the chaos
    // run's whole-cluster restart: the sink stopped on "NonRetriable: There is
    // no leader for this topic-partition", a leader election that passes). Its
    // own wrapping of a final error has that error as its cause, so the cause
    // is the verdict either way.
    if ((name === 'KafkaJSNumberOfRetriesExceeded' || name === 'KafkaJSNonRetriableError') && cause !== undefined && cause !== e) {
      e = cause;
      continue;
    }
    return typeof retriable === 'boolean' ? retriable : 'unknown';
  }
  return 'unknown';
}

/** kafkajs error types about the consumer group's membership or coordinator (kafkajs rejoins on them). */
const GROUP_MEMBERSHIP_TYPES: ReadonlySet<string> = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS']);

/**
 * Whether an error (or a cause it wraps) is about the consumer group itself:
 * retrying the call in place repeats it, because only kafkajs's rejoin (a
 * new coordinator lookup, a new member id or generation) clears it. Code
 * holding a batch must let such an error reach kafkajs, and not stop on it:
 * kafkajs marks UNKNOWN_MEMBER_ID final although a rejoin fixes it.
 *
 * KafkaJSBrokerNotFound counts too: a generation's offset commits go to the
 * coordinator it joined through, looked up again only by node id, so once
 * that broker is dead and out of the metadata every commit fails the same
 * way until a rejoin (the chaos run's sink retried one for 3 minutes with a
 * node of three down).
 */
export function isGroupMembershipError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const { type, cause } = e as { type?: unknown; cause?: unknown };
    if (typeof type === 'string' && GROUP_MEMBERSHIP_TYPES.has(type)) return true;
    if ((e as { name?: unknown }).name === 'KafkaJSBrokerNotFound') return true;
    if (cause === e) break;
    e = cause;
  }
  return false;
}
