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

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
