/**
 * Literal hosts for `pageloop doctor`'s probes (cli/doctor/): a HostReader
 * over a map of files, and a minimal kernel BTF blob.
 */
import type { HostReader } from '../cli/doctor/host.js';

/** A minimal little-endian BTF blob: a 24-byte header, no types, then `strings`. */
export function fakeBtf(strings: string, magic = 0xeb9f): Uint8Array {
  const str = Buffer.from(strings, 'latin1');
  const b = Buffer.alloc(24 + str.length);
  b.writeUInt16LE(magic, 0);
  b.writeUInt8(1, 2);
  b.writeUInt32LE(24, 4); // hdr_len
  b.writeUInt32LE(0, 8); // type_off
  b.writeUInt32LE(0, 12); // type_len
  b.writeUInt32LE(0, 16); // str_off
  b.writeUInt32LE(str.length, 20); // str_len
  str.copy(b, 24);
  return b;
}

/** A host made of literal files; directories are implied by the paths. */
export function fakeHost(files: Record<string, string | Uint8Array>): HostReader {
  const paths = Object.keys(files);
  return {
    readText: (p) => {
      const f = files[p];
      return f === undefined ? null : typeof f === 'string' ? f : Buffer.from(f).toString('utf8');
    },
    readBytes: (p) => {
      const f = files[p];
      return f === undefined ? null : typeof f === 'string' ? Buffer.from(f) : f;
    },
    listDir: (p) => {
      const kids = new Set(paths.filter((k) => k.startsWith(p + '/')).map((k) => k.slice(p.length + 1).split('/')[0]!));
      return kids.size > 0 ? [...kids] : null;
    },
    exists: (p) => p in files || paths.some((k) => k.startsWith(p + '/')),
  };
}
