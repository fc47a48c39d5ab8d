/**
 * The agent reads pageloop.hints.v1 without committing (its group has no
 * offsets; it reads from the start and keeps the live set). When kafkajs
 * restarts its consumer (a crash it restarts from, after a broker fault) or
 * the group rebalances, it is handed every record again from the start, and
 * the agent, caught up already, acted on each old hint a second time (the
 * chaos run: 47 MADV_COLLAPSE hints applied twice after one broker of three
 * was killed and restarted). This remembers, per partition, the last offset
 * handled in this process, so a redelivered record is recognised and skipped.
 */
export interface RedeliveryFilter {
  /** True when the record is new to this process (and remembers it); false for a redelivery. */
  fresh(partition: number, offset: string | number): boolean;
}

export function createRedeliveryFilter(): RedeliveryFilter {
  const last = new Map<number, number>();
  return {
    fresh(partition, offset) {
      const o = Number(offset);
      if (o <= (last.get(partition) ?? -1)) return false;
      last.set(partition, o);
      return true;
    },
  };
}
