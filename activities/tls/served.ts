// The certificate a TLS front really serves, read over a real handshake (SNI = the host clients use). The
// handshake never rejects: an expired or untrusted certificate is exactly what the caller wants to see, so
// trust and host coverage are reported, not enforced.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';

export interface ServedCertificate {
  subject: string;
  issuer: string;
  /** subjectAltName entries as "DNS:name" / "IP Address:addr". */
  sans: string[];
  notBefore: string;
  notAfter: string;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
  fingerprint256: string;
  serial: string;
  /** The served certificate was issued and signed by the CA in caFile (false without caFile). */
  trusted: boolean;
  /** The certificate covers the host (DNS name or IP SAN). */
  hostMatches: boolean;
}

const DAY_MS = 86_400_000;

function splitEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^\[?([^\]\s]+?)\]?:(\d+)$/.exec(endpoint);
  if (!m) throw new InvalidTargetError(`TLS endpoint "${endpoint}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Whether `cert` covers `host`: a DNS SAN (wildcards included) or an IP SAN. */
export function coversHost(cert: X509Certificate, host: string): boolean {
  const peer = { subjectaltname: cert.subjectAltName ?? '', subject: {} } as unknown as tls.PeerCertificate;
  return tls.checkServerIdentity(host, peer) === undefined;
}

/** Whether `cert` was issued by `ca` and carries a valid signature from its key. */
export function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** Describes a certificate the way the runbook reports it (no key material: certificates are public). */
export function describeCertificate(cert: X509Certificate, host: string, ca?: X509Certificate, now = Date.now()): ServedCertificate {
  const notAfter = new Date(cert.validTo);
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    sans: (cert.subjectAltName ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now) / DAY_MS),
    fingerprint256: cert.fingerprint256,
    serial: cert.serialNumber,
    trusted: ca ? issuedBy(cert, ca) : false,
    hostMatches: coversHost(cert, host),
  };
}

/** Reads the certificate served at `endpoint` (host:port) to SNI `host`; trust is judged against `caFile`. */
export async function servedCertificate(endpoint: string, host: string, caFile?: string, timeoutMs = 10_000): Promise<ServedCertificate> {
  const { host: addr, port } = splitEndpoint(endpoint);
  const ca = caFile ? new X509Certificate(await readFile(caFile)) : undefined;
  const der = await new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({
      host: addr,
      port,
      // SNI is only for names; an IP host sends none (as real clients do).
      ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    const fail = (err: Error) => {
      socket.destroy();
      reject(new Error(`TLS handshake with ${endpoint} (SNI ${host}) failed: ${err.message}`));
    };
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      socket.end();
      if (!peer?.raw) return reject(new Error(`${endpoint} served no certificate`));
      resolve(peer.raw);
    });
    socket.once('timeout', () => fail(new Error(`no handshake within ${timeoutMs} ms`)));
    socket.once('error', fail);
  });
  return describeCertificate(new X509Certificate(der), host, ca);
}

export type ServedCertificateActivities = ReturnType<typeof createServedCertificateActivities>;

/** Config paths are relative to the worker's working directory (the repo root), like backups.dir. */
export function certificateConfig(deps: Deps, name: string) {
  const cfg = deps.config.certificates[name];
  if (!cfg) {
    throw new InvalidTargetError(
      `certificate "${name}" is not configured; known certificates: ${Object.keys(deps.config.certificates).join(', ') || '(none)'}`,
    );
  }
  return {
    ...cfg,
    caFile: path.resolve(cfg.caFile),
    certFile: path.resolve(cfg.certFile),
    keyFile: path.resolve(cfg.keyFile),
    backupDir: path.resolve(cfg.backupDir),
  };
}

export function createServedCertificateActivities(deps: Deps) {
  return {
    /** The certificate the configured front serves for certificate `name`, over a real TLS handshake. */
    async readServedCertificate(input: { certificate: string }): Promise<ServedCertificate> {
      const cfg = certificateConfig(deps, input.certificate);
      return servedCertificate(cfg.endpoint, cfg.host, cfg.caFile);
    },
  };
}
