/**
 * The chaos run's view of the ClickHouse HTTP endpoint (`pageloop serve`):
 * queries by GET, as Grafana's data source sends them (so read-only there,
 * whatever the endpoint lets the sink POST), and the ring-buffer loss the
 * kernel counted, read from the agent's /metrics, to set beside what the
 * wire carried into ClickHouse.
 */

/** A SELECT by GET; rows as JSON objects (64-bit integers come as strings). Throws on a refused connection or a ClickHouse error. */
export async function endpointQuery<T>(url: string, database: string, sql: string): Promise<T[]> {
  const q = new URLSearchParams({ query: `${sql} FORMAT JSON`, database });
  const res = await fetch(`${url}/?${q}`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`endpoint answered ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { data: T[] }).data;
}

/** Whether the endpoint answers /ping. */
export async function endpointUp(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) });
    return res.ok && (await res.text()) === 'Ok.\n';
  } catch {
    return false;
  }
}

/** Loss per "family/cpu", only counters above 0 (ClickHouse keeps rows for those only). */
export type LossCounts = Map<string, number>;

/** pageloop_ringbuf_lost_total{family,cpu} from a /metrics text: the probes' per-CPU counters of the kernel's failed reservations. */
export function ringLossFromMetrics(text: string): LossCounts {
  const out: LossCounts = new Map();
  for (const m of text.matchAll(/^pageloop_ringbuf_lost_total\{([^}]*)\} (\d+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    const n = Number(m[2]);
    if (n > 0 && labels.family !== undefined && labels.cpu !== undefined) out.set(`${labels.family}/${labels.cpu}`, n);
  }
  return out;
}

export const totalLoss = (c: LossCounts): number => [...c.values()].reduce((a, b) => a + b, 0);
export const sameLoss = (a: LossCounts, b: LossCounts): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
export const lossObject = (c: LossCounts): Record<string, number> => Object.fromEntries([...c].sort());

/** The wire's word on one collector run's loss: the newest cumulative count per family and CPU (max, as the counters only grow). */
export const COLLECTOR_LOSS_SQL = (collectorId: string): string =>
  `SELECT family, cpu, max(lost) AS lost FROM collector_loss WHERE collector_id = '${collectorId.replace(/'/g, '')}' GROUP BY family, cpu`;

export function lossFromRows(rows: ReadonlyArray<{ family: string; cpu: number | string; lost: number | string }>): LossCounts {
  const out: LossCounts = new Map();
  for (const r of rows) if (Number(r.lost) > 0) out.set(`${r.family}/${Number(r.cpu)}`, Number(r.lost));
  return out;
}
