/** A collector batch onto the wire: the columnar EventBatch of schemas/pageloop.proto. */
import { encodeEventBatchFromRecords } from '../schemas/record-encoder.js';
import type { CollectorBatch } from './collector.js';

export function encodeCollectorBatch(b: CollectorBatch): Uint8Array {
  return encodeEventBatchFromRecords(
    {
      host: b.host,
      bootId: b.bootId,
      collectorId: b.instance,
      sequence: b.sequence,
      loss: b.loss,
      dropped: b.dropped,
      vmstat: b.vmstat,
      psi: b.psi,
      damon: b.damon,
    },
    b.frames,
    b.events,
  );
}
