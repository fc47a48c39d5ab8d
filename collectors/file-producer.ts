/**
 * The collector's stream into a recording file instead of Kafka
 * (`pageloop record`): the same records, keys and timestamps.
 */
import type { RecordFileWriter } from '../schemas/record-file.js';
import type { EventsProducer } from './collector.js';

export function createFileEventsProducer(writer: RecordFileWriter): EventsProducer {
  return {
    async send(_topic, key, value, timestampMs) {
      writer.append({ key, value, timestampMs });
    },
    async close() {
      writer.close();
    },
  };
}
