/**
 * The bounded queue between the ring buffer and Kafka. The kernel is drained
 * whatever Kafka does; the queue holds at most `maxBytes` of drained records,
 * and what does not fit is dropped and counted per family, exactly, so that
 * produced + dropped = drained always holds.
 */
import { FAMILIES, FAMILY_OF, FAMILY_OF_KIND, forEachRecord, type FamilyName, type ProbeEvent } from '../bpf/events.js';

export type FamilyCounts = Record<FamilyName, number>;

export function zeroCounts(): FamilyCounts {
  return Object.fromEntries(FAMILIES.map((f) => [f, 0])) as FamilyCounts;
}

export function addCounts(into: FamilyCounts, from: Readonly<FamilyCounts>): void {
  for (const f of FAMILIES) into[f] += from[f];
}

/**
 * What one queued chunk holds: a drained ring-buffer batch kept as the raw
 * framed records (compact, decoded only when produced), or records built in
 * user space (fault summaries); its size, and its records per family.
 */
export interface Chunk {
  readonly frames: Buffer | null;
  readonly events: readonly ProbeEvent[];
  readonly records: number;
  readonly bytes: number;
  readonly counts: Readonly<FamilyCounts>;
}

/** Rough bytes a user-space record (a decoded event object) holds in V8. */
export const EVENT_OBJECT_BYTES = 200;

export function chunkOfFrames(frames: Buffer): Chunk {
  const counts = zeroCounts();
  let records = 0;
  forEachRecord(frames, (_at, _len, kind) => {
    const f = FAMILY_OF_KIND[kind];
    if (f) counts[f]++;
    records++;
  });
  return { frames, events: [], records, bytes: frames.length, counts };
}

/**
 * Records per family of a ring-buffer batch that does not frame (checkFrames
 * refused it): the records walkable from the front, up to the first that
 * runs past the batch. What a rejected batch counts as dropped.
 */
export function countFrames(frames: Buffer): { records: number; counts: FamilyCounts } {
  const counts = zeroCounts();
  let records = 0;
  let at = 0;
  while (at + 8 <= frames.length) {
    const length = frames.readUInt32LE(at);
    const record = at + 8;
    if (record + Math.max(length, 26) > frames.length) break;
    const f = FAMILY_OF_KIND[frames.readUInt16LE(record + 24)];
    if (f) counts[f]++;
    records++;
    at = record + ((length + 7) & ~7);
  }
  return { records, counts };
}

export function chunkOfEvents(events: readonly ProbeEvent[]): Chunk {
  return { frames: null, events, records: events.length, bytes: events.length * EVENT_OBJECT_BYTES, counts: countByFamily(events) };
}

export function countByFamily(events: readonly ProbeEvent[]): FamilyCounts {
  const counts = zeroCounts();
  for (const e of events) {
    const f = FAMILY_OF[e.type];
    if (f !== 'bench') counts[f]++;
  }
  return counts;
}

export interface QueueStats {
  readonly bytes: number;
  readonly events: number;
  readonly chunks: number;
  readonly dropped: Readonly<FamilyCounts>;
  readonly droppedChunks: number;
}

export class BoundedQueue {
  private readonly chunks: Chunk[] = [];
  private head = 0;
  private bytesHeld = 0;
  private eventsHeld = 0;
  /** Events in chunks not taken yet. */
  private eventsWaiting = 0;
  private readonly droppedCounts = zeroCounts();
  private droppedChunks = 0;

  constructor(readonly maxBytes: number) {}

  /**
   * Adds a chunk unless it would pass the bound; then it is dropped (the
   * newest data goes, so what is already queued keeps its order) and counted.
   * Returns whether it was kept.
   */
  push(chunk: Chunk): boolean {
    if (chunk.records === 0) return true;
    if (this.bytesHeld + chunk.bytes > this.maxBytes) {
      addCounts(this.droppedCounts, chunk.counts);
      this.droppedChunks++;
      return false;
    }
    this.chunks.push(chunk);
    this.bytesHeld += chunk.bytes;
    this.eventsHeld += chunk.records;
    this.eventsWaiting += chunk.records;
    return true;
  }

  /**
   * Takes whole chunks from the front up to the limits (at least one chunk if
   * any). They still count against the bound until ack()ed: in-flight data is
   * memory too.
   */
  take(maxEvents: number, maxBytes: number): Chunk[] {
    const out: Chunk[] = [];
    let events = 0;
    let bytes = 0;
    while (this.head < this.chunks.length) {
      const c = this.chunks[this.head]!;
      if (out.length > 0 && (events + c.records > maxEvents || bytes + c.bytes > maxBytes)) break;
      out.push(c);
      events += c.records;
      bytes += c.bytes;
      this.head++;
    }
    this.eventsWaiting -= events;
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }

  /**
   * Counts records that will never be produced as dropped (a batch the
   * encoder refused); a chunk among them that was taken is ack()ed first.
   */
  reject(counts: Readonly<FamilyCounts>): void {
    addCounts(this.droppedCounts, counts);
    this.droppedChunks++;
  }

  /** Chunks taken and delivered: their memory is free. */
  ack(chunks: readonly Chunk[]): void {
    for (const c of chunks) {
      this.bytesHeld -= c.bytes;
      this.eventsHeld -= c.records;
    }
  }

  /** Puts chunks taken but not delivered back at the front, in order. */
  requeue(chunks: readonly Chunk[]): void {
    if (chunks.length > 0) this.chunks.splice(this.head, 0, ...chunks);
    for (const c of chunks) this.eventsWaiting += c.records;
  }

  /** Drops everything still queued (a shutdown that ran out of time), counting it. */
  discardAll(): void {
    for (let i = this.head; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      addCounts(this.droppedCounts, c.counts);
      this.droppedChunks++;
      this.bytesHeld -= c.bytes;
      this.eventsHeld -= c.records;
    }
    this.chunks.length = 0;
    this.head = 0;
    this.eventsWaiting = 0;
  }

  /** Events queued and not taken (in-flight ones excluded). */
  get waitingEvents(): number {
    return this.eventsWaiting;
  }

  get size(): number {
    return this.chunks.length - this.head;
  }

  stats(): QueueStats {
    return {
      bytes: this.bytesHeld,
      events: this.eventsHeld,
      chunks: this.size,
      dropped: { ...this.droppedCounts },
      droppedChunks: this.droppedChunks,
    };
  }
}
