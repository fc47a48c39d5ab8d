/**
 * Checks every JSON a person writes (config, profiles, hints) against its
 * JSON Schema (draft 2020-12, ajv), then the few rules a schema cannot say
 * (powers of two, cross-field). Errors are UsageErrors that name the JSON
 * pointer of each bad field and what was expected there.
 */
import { readFileSync } from 'node:fs';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { UsageError, errorMessage } from '../lib/errors.js';
import type { FamilyName } from '../bpf/events.js';
import { schemaFile } from './files.js';
import { WireDecodeError, WireEncodeError } from './wire-errors.js';
import { decodeHint, encodeHint, type Hint } from './derived.js';

// ---------------------------------------------------------------------------
// Types of what the schemas accept (all optional: defaults live in code)
// ---------------------------------------------------------------------------

/** TLS to Kafka: ca, cert and key are paths of PEM files (kafka/client.ts reads them). */
export interface KafkaSslOptions {
  rejectUnauthorized?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  /** Of an encrypted private key. */
  passphrase?: string;
  servername?: string;
}

/** SASL to Kafka; without a password, env PAGELOOP_KAFKA_SASL_PASSWORD gives it. */
export interface KafkaSaslConfig {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password?: string;
}

/** The short names of the declared topics (TOPIC in schemas/topics.ts). */
export type KafkaTopicKey = 'events' | 'scores' | 'phases' | 'hints' | 'actions' | 'tuner' | 'processorState' | 'dlq';

/** How `pageloop kafka start|topics` sizes the declared topics on a cluster. */
export interface KafkaTopicsConfig {
  /** Partitions per topic (e.g. events: 48 on a fleet); processorState follows events unless given. */
  partitions?: Partial<Record<KafkaTopicKey, number>>;
  /** Replicas of each partition; absent: min(3, brokers in the cluster). */
  replicationFactor?: number;
}

export interface PageloopConfig {
  host?: string;
  kafka?: {
    brokers?: string[];
    clientId?: string;
    ssl?: boolean | KafkaSslOptions;
    sasl?: KafkaSaslConfig;
    topics?: KafkaTopicsConfig;
  };
  probes?: {
    families?: FamilyName[];
    targets?: { pids?: number[]; cgroups?: string[] };
    faultMode?: 'aggregated' | 'raw';
    faultSampleEvery?: number;
    regionShift?: number;
    ringBufferBytes?: number;
    faultTableEntries?: number;
    faultSweepIntervalMs?: number;
    swapEntries?: boolean;
    maxBatchBytes?: number;
    promotionWindowMs?: number;
    objectPath?: string;
  };
  collector?: {
    batch?: { maxEvents?: number; maxBytes?: number; maxDelayMs?: number };
    queue?: { maxBytes?: number };
    compression?: 'none' | 'gzip';
    metrics?: { port?: number; host?: string; user?: string; password?: string };
    samplers?: { vmstat?: { intervalMs?: number }; psi?: { intervalMs?: number }; damon?: { enabled?: boolean } };
  };
  processors?: {
    windowMs?: number;
    groupId?: string;
    scorer?: { pageSizesKb?: number[]; minFaults?: number; zeroingNsPerKb?: number; compactionWeight?: number };
    phases?: { threshold?: number; minDwellMs?: number };
    planner?: { minScore?: number; hintTtlMs?: number; maxHintsPerWindow?: number; maxHintsPerHostWindow?: number };
    tuner?: { enabled?: boolean; objective?: string; target?: number };
  };
  feedback?: {
    allow?: { cgroups?: string[]; executables?: string[]; comms?: string[] };
    dryRun?: boolean;
    rateLimits?: { perProcessPerMinute?: number; perHostPerMinute?: number };
  };
  clickhouse?: ClickHouseConfig;
}

/** The config file's `clickhouse` section: a server by URL, else the embedded engine. */
export interface ClickHouseConfig {
  url?: string;
  database?: string;
  username?: string;
  password?: string;
  /** PEM file paths; only with an https:// url. */
  tls?: { ca: string; cert?: string; key?: string };
  /** '' (one server) or the cluster the tables go on (ON CLUSTER). */
  cluster?: string;
}

export interface ProfileMappingName {
  kind: 'anon' | 'heap' | 'stack' | 'file';
  path?: string;
  ordinal?: number;
}

export interface ProfileRegion {
  name: ProfileMappingName;
  offset: number;
  length: number;
  /** Page size in KiB (as a string key, e.g. "2048") -> benefit. */
  benefit: Record<string, number>;
  preferredSizeKb?: number;
}

export interface Profile {
  version: 1;
  executable?: string;
  regions: ProfileRegion[];
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export interface SchemaIssue {
  /** JSON pointer of the bad field ('/' for the document). */
  readonly path: string;
  /** What was expected there. */
  readonly message: string;
}

/** A document that fails its schema: `what: /path: expectation; /path: ...`. */
export class SchemaError extends UsageError {
  readonly what: string;
  readonly issues: readonly SchemaIssue[];

  constructor(what: string, issues: readonly SchemaIssue[]) {
    super(`${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'SchemaError';
    this.what = what;
    this.issues = issues;
  }
}

// ---------------------------------------------------------------------------
// ajv, once
// ---------------------------------------------------------------------------

// CommonJS under ESM: the default import is module.exports, whose .default is the export.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

type SchemaName = 'config' | 'profile' | 'hint';
const compiled = new Map<SchemaName, ValidateFunction>();

function validatorFor(name: SchemaName): ValidateFunction {
  let validate = compiled.get(name);
  if (!validate) {
    // verbose: errors carry the schema and data, which the messages describe.
    // strictRequired off: `then: {required: [...]}` names properties defined beside the if.
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, strictRequired: false });
    addFormats(ajv);
    const schema = JSON.parse(readFileSync(schemaFile(`${name}.schema.json`), 'utf8')) as object;
    validate = ajv.compile(schema);
    compiled.set(name, validate);
  }
  return validate;
}

// ---------------------------------------------------------------------------
// ajv errors -> issues
// ---------------------------------------------------------------------------

function pointer(base: string, key?: string): string {
  const escaped = key === undefined ? '' : `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  return `${base}${escaped}` || '/';
}

function got(data: unknown): string {
  if (data === undefined) return '';
  if (data !== null && typeof data === 'object') return Array.isArray(data) ? ' (got an array)' : ' (got an object)';
  const text = JSON.stringify(data);
  return ` (got ${text.length > 60 ? `${text.slice(0, 60)}...` : text})`;
}

function typeName(schema: Record<string, unknown>): string {
  const t = schema.type;
  if (Array.isArray(t)) return t.join(' or ');
  if (typeof t === 'string') return t;
  return 'a value';
}

function range(schema: Record<string, unknown>): string {
  const min = schema.minimum;
  const max = schema.maximum;
  if (typeof min === 'number' && typeof max === 'number') return ` from ${min} to ${max}`;
  if (typeof min === 'number') return ` >= ${min}`;
  if (typeof max === 'number') return ` <= ${max}`;
  return '';
}

function describeError(e: ErrorObject): SchemaIssue | undefined {
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const params = e.params as Record<string, unknown>;
  const at = e.instancePath;
  switch (e.keyword) {
    case 'required':
      return { path: pointer(at, String(params.missingProperty)), message: 'is required' };
    case 'additionalProperties': {
      const known = Object.keys((parent.properties ?? {}) as object).filter((k) => k !== '$schema');
      return { path: pointer(at, String(params.additionalProperty)), message: `is not a known property (known: ${known.join(', ')})` };
    }
    case 'propertyNames': {
      const names = (parent.propertyNames ?? {}) as Record<string, unknown>;
      const what = typeof names.description === 'string' ? names.description : `names matching ${String(names.pattern)}`;
      return { path: pointer(at, String(params.propertyName)), message: `is not a valid key: keys are ${what}` };
    }
    case 'type':
      return { path: pointer(at), message: `must be ${typeName(parent)}${range(parent)}${got(e.data)}` };
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum': {
      const op = { minimum: '>=', exclusiveMinimum: '>', maximum: '<=', exclusiveMaximum: '<' }[e.keyword];
      return { path: pointer(at), message: `must be ${typeName(parent)} ${op} ${String(params.limit)}${got(e.data)}` };
    }
    case 'enum':
      return { path: pointer(at), message: `must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}${got(e.data)}` };
    case 'const':
      return { path: pointer(at), message: `must be ${JSON.stringify(params.allowedValue)}${got(e.data)}` };
    case 'minLength':
      return { path: pointer(at), message: params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters${got(e.data)}` };
    case 'maxLength':
      return { path: pointer(at), message: `must be at most ${String(params.limit)} characters${got(e.data)}` };
    case 'pattern': {
      // A described pattern reads better as what it means.
      const what = typeof parent.description === 'string' ? parent.description : `a string matching ${String(params.pattern)}`;
      return { path: pointer(at), message: `must be ${what}${got(e.data)}` };
    }
    case 'format':
      return { path: pointer(at), message: `must be a ${String(params.format)}${got(e.data)}` };
    case 'minItems':
      return { path: pointer(at), message: `must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}` };
    case 'maxItems':
      return { path: pointer(at), message: `must have at most ${String(params.limit)} items` };
    case 'uniqueItems':
      return { path: pointer(at, String(params.i)), message: `repeats item ${String(params.j)}` };
    case 'minProperties':
      return { path: pointer(at), message: `must have at least ${String(params.limit)} propert${params.limit === 1 ? 'y' : 'ies'}` };
    case 'if':
    case 'anyOf':
    case 'oneOf':
    case 'allOf':
    case 'not':
      // Summaries of errors reported on their own; kept only if alone.
      return undefined;
    default:
      return { path: pointer(at), message: `${e.message ?? 'is not valid'}${got(e.data)}` };
  }
}

/** ajv's errors as issues: one per bad field, in document order of discovery. */
export function issuesFromAjv(errors: readonly ErrorObject[]): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // With propertyNames, ajv reports the inner (pattern) error too, with the name as data.
    if (e.propertyName !== undefined && e.keyword !== 'propertyNames') continue;
    const issue = describeError(e);
    if (!issue) continue;
    const key = `${issue.path}\0${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  if (issues.length === 0 && errors.length > 0) {
    const e = errors[0]!;
    issues.push({ path: pointer(e.instancePath), message: e.message ?? 'is not valid' });
  }
  return issues;
}

function checkSchema(what: SchemaName, obj: unknown): void {
  const validate = validatorFor(what);
  if (!validate(obj)) throw new SchemaError(what, issuesFromAjv(validate.errors ?? []));
}

// ---------------------------------------------------------------------------
// The validators
// ---------------------------------------------------------------------------

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function throwIf(what: SchemaName, issues: SchemaIssue[]): void {
  if (issues.length > 0) throw new SchemaError(what, issues);
}

/** What the schema cannot say about the clickhouse section: TLS wants https, a client certificate its key. */
function clickHouseIssues(ch: ClickHouseConfig | undefined): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const tls = ch?.tls;
  if (!tls) return issues;
  if (ch.url !== undefined && !/^https:/i.test(ch.url)) {
    issues.push({ path: '/clickhouse/tls', message: `is for an https:// url (got /clickhouse/url ${JSON.stringify(ch.url)})` });
  }
  if (tls.cert !== undefined && tls.key === undefined) issues.push({ path: '/clickhouse/tls/key', message: 'is required with /clickhouse/tls/cert (a client certificate needs its key)' });
  if (tls.key !== undefined && tls.cert === undefined) issues.push({ path: '/clickhouse/tls/cert', message: 'is required with /clickhouse/tls/key (a client key needs its certificate)' });
  return issues;
}

/** A whole pageloop config; returns it typed. */
export function validateConfig(obj: unknown): PageloopConfig {
  checkSchema('config', obj);
  const config = obj as PageloopConfig;
  const issues: SchemaIssue[] = [];
  const rb = config.probes?.ringBufferBytes;
  if (rb !== undefined && !isPowerOfTwo(rb)) issues.push({ path: '/probes/ringBufferBytes', message: `must be a power of two (got ${rb})` });
  const targets = config.probes?.targets;
  if (targets?.pids?.length && targets.cgroups?.length) issues.push({ path: '/probes/targets', message: 'give pids or cgroups, not both' });
  config.processors?.scorer?.pageSizesKb?.forEach((kb, i) => {
    if (!isPowerOfTwo(kb)) issues.push({ path: `/processors/scorer/pageSizesKb/${i}`, message: `must be a power of two (got ${kb})` });
  });
  issues.push(...clickHouseIssues(config.clickhouse));
  throwIf('config', issues);
  return config;
}

/** A region profile; returns it typed. */
export function validateProfile(obj: unknown): Profile {
  checkSchema('profile', obj);
  const profile = obj as Profile;
  const issues: SchemaIssue[] = [];
  profile.regions.forEach((r, i) => {
    for (const key of Object.keys(r.benefit)) {
      if (!isPowerOfTwo(Number(key)) || Number(key) < 4) {
        issues.push({ path: pointer(`/regions/${i}/benefit`, key), message: 'is not a page size: keys are powers of two >= 4 (KiB)' });
      }
    }
    if (r.preferredSizeKb !== undefined && !(String(r.preferredSizeKb) in r.benefit)) {
      const sizes = Object.keys(r.benefit).join(', ');
      issues.push({ path: `/regions/${i}/preferredSizeKb`, message: `must be one of the page sizes in benefit (${sizes}) (got ${r.preferredSizeKb})` });
    }
  });
  throwIf('profile', issues);
  return profile;
}

/**
 * A hint as JSON; returns the wire Hint with every field filled (protobuf
 * defaults for the ones left out), exactly what encodeHint would publish.
 */
export function validateHint(obj: unknown): Hint {
  checkSchema('hint', obj);
  const partial = obj as Partial<Hint> & { $schema?: string };
  const issues: SchemaIssue[] = [];
  if (partial.pageSizeKb !== undefined && partial.pageSizeKb !== 0 && !isPowerOfTwo(partial.pageSizeKb)) {
    issues.push({ path: '/pageSizeKb', message: `must be a power of two (got ${partial.pageSizeKb})` });
  }
  if (partial.issuedNs !== undefined && partial.expiresNs !== undefined && partial.expiresNs <= partial.issuedNs) {
    issues.push({ path: '/expiresNs', message: `must be after issuedNs (${partial.issuedNs}) (got ${partial.expiresNs})` });
  }
  throwIf('hint', issues);
  const { $schema: _ignored, ...fields } = partial;
  try {
    return decodeHint(encodeHint(fields as Hint));
  } catch (err) {
    // The schema should have caught it: say so rather than lose the reason.
    if (err instanceof WireEncodeError || err instanceof WireDecodeError) throw new SchemaError('hint', [{ path: '/', message: err.reason }]);
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

export interface JsonSyntaxProblem {
  /** 0-based offset into the text. */
  readonly offset: number;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units. */
  readonly column: number;
  readonly reason: string;
}

/**
 * Where the first JSON syntax error in `text` is, or undefined if it parses.
 * V8's JSON.parse messages do not always give a position; this does.
 */
export function findJsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  let i = 0;
  const n = text.length;
  class Stop {
    constructor(
      readonly offset: number,
      readonly reason: string,
    ) {}
  }
  const describe = (at: number): string => (at >= n ? 'end of input' : JSON.stringify(text[at]));
  const ws = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const expectValue = (): never => {
    throw new Stop(i, `unexpected ${describe(i)}, expected a value`);
  };
  const string = (): void => {
    const start = i++;
    for (;;) {
      if (i >= n) throw new Stop(start, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) throw new Stop(i, 'control character in string (escape it)');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Stop(i, 'bad \\u escape');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          throw new Stop(i, `bad escape ${describe(i + 1)}`);
        }
        continue;
      }
      i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Stop(i, `unexpected ${describe(i)}, expected a property name in double quotes`);
        string();
        ws();
        if (text[i] !== ':') throw new Stop(i, `unexpected ${describe(i)}, expected ':' after the property name`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === '}') throw new Stop(i, "trailing comma before '}'");
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        throw new Stop(i, `unexpected ${describe(i)}, expected ',' or '}'`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === ']') throw new Stop(i, "trailing comma before ']'");
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        throw new Stop(i, `unexpected ${describe(i)}, expected ',' or ']'`);
      }
    }
    if (c === '"') return string();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    const number = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    number.lastIndex = i;
    const m = number.exec(text);
    if (m && m[0].length > 0 && m[0] !== '-') {
      i += m[0].length;
      return;
    }
    expectValue();
  };
  try {
    value();
    ws();
    if (i < n) throw new Stop(i, `unexpected ${describe(i)} after the JSON value`);
    return undefined;
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    const before = text.slice(0, err.offset);
    const line = before.split('\n').length;
    const column = err.offset - (before.lastIndexOf('\n') + 1) + 1;
    return { offset: err.offset, line, column, reason: err.reason };
  }
}

/**
 * Reads a JSON file and checks it with one of the validators above. Every
 * error names the file; syntax errors also the line and column.
 */
export function loadJsonFile<T>(path: string, validator: (obj: unknown) => T): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${path}: cannot read: ${errorMessage(err)}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    const where = findJsonSyntaxError(text);
    if (where) throw new UsageError(`${path}:${where.line}:${where.column}: invalid JSON: ${where.reason} (offset ${where.offset})`);
    throw new UsageError(`${path}: invalid JSON: ${errorMessage(err)}`);
  }
  try {
    return validator(obj);
  } catch (err) {
    if (err instanceof SchemaError) {
      const e = new SchemaError(`${path}: ${err.what}`, err.issues);
      throw e;
    }
    if (err instanceof UsageError) throw new UsageError(`${path}: ${err.message}`);
    throw err;
  }
}
