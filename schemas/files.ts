/**
 * Where the schema files (.proto, .json) are. tsc does not copy them to
 * dist/, so compiled code looks beside itself first, then in the source tree.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PageloopError } from '../lib/errors.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The source-tree schemas/ folder (where snapshot --write writes). */
export function sourceSchemasDir(): string {
  for (const candidate of [here, join(here, '..', '..', 'schemas')]) {
    if (existsSync(join(candidate, 'pageloop.proto'))) return candidate;
  }
  throw new PageloopError('not-found', `schemas/pageloop.proto not found beside ${here} nor in the source tree`);
}

/** Absolute path of a file under schemas/, e.g. schemaFile('pageloop.proto'). */
export function schemaFile(name: string): string {
  for (const candidate of [join(here, name), join(here, '..', '..', 'schemas', name)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new PageloopError('not-found', `schema file ${name} not found beside ${here} nor in the source tree`);
}
