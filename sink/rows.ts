/**
 * Kafka records to table rows: per topic, how a record's value decodes and
 * which rows of which tables (schemas/clickhouse-tables.ts) it becomes. Each
 * topic family has its module (rows-events.ts, rows-scores.ts, ...) on the
 * shared plumbing of table-blocks.ts; rows go straight into NativeBlock
 * columns, nothing per row is an object.
 */
import { TOPIC } from '../schemas/topics.js';
import { ACTIONS_ROUTE } from './rows-actions.js';
import { DEAD_LETTERS_ROUTE } from './rows-dead-letters.js';
import { EVENTS_ROUTE } from './rows-events.js';
import { HINTS_ROUTE } from './rows-hints.js';
import { PHASES_ROUTE } from './rows-phases.js';
import { SCORES_ROUTE } from './rows-scores.js';
import { TUNER_ROUTE } from './rows-tuner.js';
import type { TopicRoute } from './table-blocks.js';

/** What each topic's records become. Topics absent here are not consumed. */
export const DECODERS: Readonly<Record<string, TopicRoute>> = {
  [TOPIC.events]: EVENTS_ROUTE,
  [TOPIC.scores]: SCORES_ROUTE,
  [TOPIC.phases]: PHASES_ROUTE,
  [TOPIC.hints]: HINTS_ROUTE,
  [TOPIC.actions]: ACTIONS_ROUTE,
  [TOPIC.tuner]: TUNER_ROUTE,
  [TOPIC.dlq]: DEAD_LETTERS_ROUTE,
};

/** The topics the sink reads, in a fixed order. */
export const SINK_TOPICS: readonly string[] = Object.keys(DECODERS);
