/**
 * Tells a TLS refusal from a dropped connection after the fact.
 *
 * Under TLS 1.3 the client's handshake is done before the server has checked
 * the client's certificate; a server that refuses it sends an alert and
 * closes. A client that has already written its request may then read a
 * reset (ECONNRESET, EPIPE) before the alert: a retry would be judged
 * helpful when no retry can help. So on a reset over https the client
 * connects once more, writes nothing, and waits for the server's verdict.
 */
import { connect, type ConnectionOptions } from 'node:tls';
import { isTlsFailureCode } from './errors.js';

export interface TlsProbeTarget {
  readonly url: string;
  readonly ca?: Buffer | string;
  readonly cert?: Buffer | string;
  readonly key?: Buffer | string;
}

/**
 * The TLS error the server answers a fresh handshake with, or undefined when
 * it accepts the handshake (a session ticket came: TLS 1.3 servers send one
 * only after checking the client) or no verdict came within `timeoutMs`.
 */
export function tlsHandshakeRefusal(target: TlsProbeTarget, timeoutMs = 3000): Promise<NodeJS.ErrnoException | undefined> {
  const url = new URL(target.url);
  const options: ConnectionOptions = {
    host: url.hostname,
    port: Number(url.port || 443),
    ...(isIpLiteral(url.hostname) ? {} : { servername: url.hostname }),
    ...(target.ca !== undefined ? { ca: target.ca } : {}),
    ...(target.cert !== undefined ? { cert: target.cert } : {}),
    ...(target.key !== undefined ? { key: target.key } : {}),
  };
  return new Promise((resolve) => {
    const socket = connect(options);
    const done = (verdict: NodeJS.ErrnoException | undefined): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(verdict);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('session', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(isTlsFailureCode(String(err.code ?? '')) ? err : undefined));
    socket.once('close', () => done(undefined));
  });
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[');
}
