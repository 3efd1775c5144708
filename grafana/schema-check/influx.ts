// The InfluxDB (InfluxQL) query model of Grafana's core influxdb datasource
// (public/app/plugins/datasource/influxdb/types.ts, InfluxQuery), reduced to what raw
// InfluxQL queries and annotations use. @grafana/schema has no type for it: panel targets are
// `Record<string, unknown>` there, so Sentinelle's checks add this one.
import type { DataQuery } from '@grafana/schema';

export interface InfluxQuery extends DataQuery {
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table' | 'logs';
  alias?: string;
  // annotations
  textColumn?: string;
  tagsColumn?: string;
  titleColumn?: string;
  timeEndColumn?: string;
}

// Dashboard JSON holds plain strings where @grafana/schema declares TypeScript string enums
// (e.g. ThresholdsMode.Absolute = 'absolute'). `Json<T>` is T with each string enum replaced
// by the union of its literal values, so JSON literals are checked against the enum's members
// (a wrong value is still an error; numeric enums become plain numbers).
export type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;
