/**
 * The official ClickHouse data source (grafana-clickhouse-datasource) as
 * the dashboards reference it. The foundation SDK (0.0.21) has no builder
 * for this plugin's query, so its query model is built here: the 4.x
 * SQL-editor shape {refId, datasource, editorType: 'sql', rawSql, format,
 * queryType, pluginVersion}. `format` is the backend's sqlutil format
 * option (0 time series: long rows are pivoted to one series per label
 * set; 1 table), `queryType` the editor's matching tab.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';

/** The data source uid every dashboard points at; provisioning creates it. */
export const DATASOURCE_UID = 'pageloop-clickhouse';
export const DATASOURCE_TYPE = 'grafana-clickhouse-datasource';
/** The plugin line the queries are written for (see macros.ts). */
export const PLUGIN_VERSION = '4.13.0';

export interface DataSourceRef {
  readonly type: string;
  readonly uid: string;
}

export const DATASOURCE: DataSourceRef = { type: DATASOURCE_TYPE, uid: DATASOURCE_UID };

/** How the panel wants rows: pivoted into series, or as a table. */
export type QueryFormat = 'timeseries' | 'table';

/** sqlutil.FormatQueryOption numbers. */
export const FORMAT_NUMBER: Readonly<Record<QueryFormat, 0 | 1>> = { timeseries: 0, table: 1 };

/** The plugin's query model, as stored in dashboard JSON. */
export interface ClickHouseQuery {
  readonly refId: string;
  readonly datasource: DataSourceRef;
  readonly editorType: 'sql';
  readonly rawSql: string;
  readonly format: 0 | 1;
  readonly queryType: QueryFormat;
  readonly pluginVersion: string;
}

export function clickHouseQuery(rawSql: string, format: QueryFormat, refId = 'A'): ClickHouseQuery {
  return {
    refId,
    datasource: DATASOURCE,
    editorType: 'sql',
    rawSql,
    format: FORMAT_NUMBER[format],
    queryType: format,
    pluginVersion: PLUGIN_VERSION,
  };
}

/**
 * A ClickHouse query where the SDK wants a `cog.Builder<cog.Dataquery>`.
 * The SDK's Dataquery marker method is attached non-enumerable, so the
 * JSON holds the plugin's fields only.
 */
export class ClickHouseQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly query: ClickHouseQuery;

  constructor(rawSql: string, format: QueryFormat, refId = 'A') {
    this.query = clickHouseQuery(rawSql, format, refId);
  }

  build(): cog.Dataquery {
    const target = { ...this.query };
    Object.defineProperty(target, '_implementsDataqueryVariant', { value: () => undefined, enumerable: false });
    return target as unknown as cog.Dataquery;
  }
}
