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
