/**
 * Who and where, as every derived message names them (pageloop.proto's
 * ProcessId, MappingName, Region): a process by host, boot and start time
 * (pids are reused), a region by its mapping's name and offset (addresses
 * move with ASLR). The checks are the ones every message that carries
 * them makes.
 */
import { need } from './wire-errors.js';

export interface ProcessId {
  host: string;
  bootId: string;
  pid: number;
  startNs: number;
}

export type MappingKind = 'unspecified' | 'anon' | 'heap' | 'stack' | 'file';

export interface MappingName {
  kind: MappingKind;
  path: string;
  ordinal: number;
}

export interface Region {
  mapping: MappingName;
  offset: number;
  start: number;
  length: number;
}

export function checkProcess(p: ProcessId | undefined, path: string): void {
  need(p !== undefined, `${path}: missing (a process is host, boot id, pid, start time)`);
  need(p!.host !== '', `${path}.host: empty`);
  need(p!.bootId !== '', `${path}.bootId: empty`);
}

export function checkRegion(r: Region | undefined, path: string): void {
  need(r !== undefined, `${path}: missing`);
  need(r!.mapping !== undefined, `${path}.mapping: missing (the ASLR-proof name of the region)`);
  need(r!.mapping.kind !== 'unspecified', `${path}.mapping.kind: unspecified`);
}
