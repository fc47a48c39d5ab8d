/**
 * pageloop.proto's DeadLetter: a record a consumer could not use, kept
 * with the reason (a WireDecodeError's `reason`, typically) and its raw
 * bytes, on the dead-letter topic instead of being dropped.
 */
import { decodeWith, encodeWith } from './proto-reflect.js';
import { need } from './wire-errors.js';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  /** Empty when the record had no key. */
  key: Uint8Array;
  reason: string;
  raw: Uint8Array;
  consumer: string;
  timestampMs: number;
}

function checkDeadLetter(d: DeadLetter): void {
  need(typeof d.topic === 'string' && d.topic !== '', 'topic: empty');
}

export const encodeDeadLetter = (v: DeadLetter): Uint8Array => encodeWith('DeadLetter', v, checkDeadLetter);
export const decodeDeadLetter = (b: Uint8Array): DeadLetter => decodeWith('DeadLetter', b, checkDeadLetter);
