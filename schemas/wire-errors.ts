/**
 * The wire contract's errors. Decoders throw WireDecodeError (code
 * 'wire-decode', never retriable) whose `reason` says what is wrong, fit
 * for a DeadLetter; encoders throw WireEncodeError.
 *
 * Inside schemas/, checks throw Bad (via fail/need) with the reason at a
 * path, and each public entry point wraps it in the typed error.
 */
import { PageloopError } from '../lib/errors.js';

export class WireDecodeError extends PageloopError {
  /** The pageloop.v1 message that was being decoded, e.g. 'EventBatch'. */
  readonly messageType: string;
  /** What is wrong, without the message type (fit for a DeadLetter.reason). */
  readonly reason: string;

  constructor(messageType: string, reason: string, cause?: unknown) {
    super('wire-decode', `cannot decode pageloop.v1.${messageType}: ${reason}`, { cause });
    this.name = 'WireDecodeError';
    this.messageType = messageType;
    this.reason = reason;
  }
}

export class WireEncodeError extends PageloopError {
  readonly messageType: string;
  readonly reason: string;

  constructor(messageType: string, reason: string) {
    super('wire-encode', `cannot encode pageloop.v1.${messageType}: ${reason}`);
    this.name = 'WireEncodeError';
    this.messageType = messageType;
    this.reason = reason;
  }
}

/** For schemas/ only: a problem at a path; the public entry points wrap it in the typed errors. */
export class Bad extends Error {}

export function fail(reason: string): never {
  throw new Bad(reason);
}

export function need(ok: boolean, reason: string): void {
  if (!ok) fail(reason);
}
