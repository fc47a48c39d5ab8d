/**
 * A recording: the Kafka records a collector produced, in order, in a file
 * (`pageloop record`), so a real workload's stream can be replayed later
 * (bench/fleet-sim.ts replays one as many hosts). The values are the
 * EventBatch bytes exactly as they would go on pageloop.events.v1.
 *
 *   file   = MAGIC record*
 *   record = u32be key length, key (UTF-8), u32be value length, value,
 *            f64be Kafka timestamp (ms since the epoch)
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { PageloopError } from '../lib/errors.js';

export const RECORD_FILE_MAGIC = Buffer.from('PAGELOOP-RECORDING 1\n', 'latin1');

/** A key or value past this is not something a collector produced. */
const MAX_PART_BYTES = 256 * 1024 * 1024;

export interface RecordedRecord {
  readonly key: string;
  readonly value: Buffer;
  readonly timestampMs: number;
}

export class RecordFileError extends PageloopError {
  constructor(file: string, message: string) {
    super('record-file', `${file}: ${message}`);
  }
}

/** The frame of one record, as the file holds it. */
export function encodeRecordFrame(r: RecordedRecord): Buffer {
  const key = Buffer.from(r.key, 'utf8');
  const out = Buffer.allocUnsafe(4 + key.length + 4 + r.value.length + 8);
  let pos = out.writeUInt32BE(key.length, 0);
  pos += key.copy(out, pos);
  pos = out.writeUInt32BE(r.value.length, pos);
  pos += r.value.copy(out, pos);
  out.writeDoubleBE(r.timestampMs, pos);
  return out;
}

/** Every record of a recording's bytes; the error names the byte offset where the file stops making sense. */
export function decodeRecordFile(bytes: Buffer, file = 'recording'): RecordedRecord[] {
  if (bytes.length < RECORD_FILE_MAGIC.length || !bytes.subarray(0, RECORD_FILE_MAGIC.length).equals(RECORD_FILE_MAGIC)) {
    throw new RecordFileError(file, 'not a pageloop recording (its first line is not "PAGELOOP-RECORDING 1")');
  }
  const out: RecordedRecord[] = [];
  let pos = RECORD_FILE_MAGIC.length;
  const need = (n: number, what: string): void => {
    if (pos + n > bytes.length) throw new RecordFileError(file, `record ${out.length} at byte ${pos}: ${what} runs past the end of the file (truncated?)`);
  };
  while (pos < bytes.length) {
    need(4, 'the key length');
    const keyLen = bytes.readUInt32BE(pos);
    if (keyLen > MAX_PART_BYTES) throw new RecordFileError(file, `record ${out.length} at byte ${pos}: key length ${keyLen} is not plausible`);
    pos += 4;
    need(keyLen, 'the key');
    const key = bytes.toString('utf8', pos, pos + keyLen);
    pos += keyLen;
    need(4, 'the value length');
    const valueLen = bytes.readUInt32BE(pos);
    if (valueLen > MAX_PART_BYTES) throw new RecordFileError(file, `record ${out.length} at byte ${pos}: value length ${valueLen} is not plausible`);
    pos += 4;
    need(valueLen + 8, 'the value and timestamp');
    const value = bytes.subarray(pos, pos + valueLen);
    pos += valueLen;
    const timestampMs = bytes.readDoubleBE(pos);
    pos += 8;
    if (!Number.isFinite(timestampMs)) throw new RecordFileError(file, `record ${out.length}: timestamp is not a number`);
    out.push({ key, value, timestampMs });
  }
  return out;
}

export function readRecordFile(file: string): RecordedRecord[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new RecordFileError(file, `cannot read: ${(err as Error).message}`);
  }
  return decodeRecordFile(bytes, file);
}

export interface RecordFileWriter {
  append(r: RecordedRecord): void;
  readonly records: number;
  readonly bytes: number;
  close(): void;
}

/** Writes a new recording (truncating the file); every append is one write(2). */
export function createRecordFileWriter(file: string): RecordFileWriter {
  const fd = openSync(file, 'w', 0o600);
  writeSync(fd, RECORD_FILE_MAGIC);
  let records = 0;
  let bytes = RECORD_FILE_MAGIC.length;
  let open = true;
  return {
    append(r) {
      if (!open) throw new RecordFileError(file, 'append after close');
      const frame = encodeRecordFrame(r);
      writeSync(fd, frame);
      records++;
      bytes += frame.length;
    },
    get records() {
      return records;
    },
    get bytes() {
      return bytes;
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
