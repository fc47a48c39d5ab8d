/**
 * What every listening endpoint needs to decide who may talk to it: whether a
 * bind address stays on this machine, and HTTP Basic credentials compared in
 * constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** user:password from an `Authorization: Basic ...` header, or undefined when there is none. */
export function basicAuthCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (typeof header !== 'string' || !/^Basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? { user: decoded, password: '' } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Constant-time equality, so a wrong password's length of match is not measurable. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
