// Validation of a new certificate/key pair before it goes near the front: the key matches the certificate,
// the chain leads to the configured CA, the SANs cover the host, it is valid now, and neither its key nor
// its signature is weaker than policy. Messages name certificates by subject and fingerprint, never keys.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { coversHost, issuedBy } from './served';

export interface CertificatePolicy {
  minRsaBits: number;
  minEcBits: number;
}

export interface PairInfo {
  subject: string;
  issuer: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
  serial: string;
  /** "rsa 2048", "ec 256 (prime256v1)", "ed25519". */
  key: string;
  signature: string;
}

export interface PairCheck {
  ok: boolean;
  problems: string[];
  info?: PairInfo;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521, secp224r1: 224, secp256k1: 256 };

// Signature algorithm OIDs that are refused outright (collisions are practical for both).
const WEAK_SIGNATURES: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10040.4.3': 'dsa-with-SHA1',
};
const SIGNATURE_NAMES: Record<string, string> = {
  ...WEAK_SIGNATURES,
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassa-pss',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'ed25519',
};

/** The certificate's outer signatureAlgorithm OID, read from its DER (Node 20's X509Certificate lacks it). */
export function signatureOid(der: Buffer): string {
  let pos = 0;
  const header = (): { len: number; start: number } => {
    pos++; // tag
    let len = der[pos++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[pos++]!;
    }
    return { len, start: pos };
  };
  header(); // Certificate SEQUENCE
  const tbs = header(); // tbsCertificate
  pos = tbs.start + tbs.len;
  header(); // signatureAlgorithm SEQUENCE
  const oid = header(); // OBJECT IDENTIFIER
  const bytes = der.subarray(oid.start, oid.start + oid.len);
  const parts = [Math.floor(bytes[0]! / 40), bytes[0]! % 40];
  let v = 0;
  for (const b of bytes.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

function keyDescription(key: KeyObject): { text: string; weak?: (p: CertificatePolicy) => string | undefined } {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const bits = d.modulusLength ?? 0;
    return { text: `rsa ${bits}`, weak: (p) => (bits < p.minRsaBits ? `its RSA key has ${bits} bits, policy requires at least ${p.minRsaBits}` : undefined) };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = d.namedCurve ?? 'unknown';
    const bits = CURVE_BITS[curve] ?? 0;
    return {
      text: `ec ${bits} (${curve})`,
      weak: (p) => (bits < p.minEcBits ? `its EC key (${curve}) has ${bits || 'unknown'} bits, policy requires at least ${p.minEcBits}` : undefined),
    };
  }
  return { text: key.asymmetricKeyType ?? 'unknown' };
}

/**
 * Checks a pair (PEM texts) for installation at `host`. Every problem found is listed; `ok` only without
 * any. The certificate text may hold a chain (leaf first, then intermediates up to, not including, the CA).
 */
export function checkPair(o: { certPem: string; keyPem: string; caPem: string; host: string; policy: CertificatePolicy; now?: number }): PairCheck {
  const now = o.now ?? Date.now();
  const blocks = o.certPem.match(PEM_CERT) ?? [];
  if (!blocks.length) return { ok: false, problems: ['the certificate file holds no PEM certificate'] };
  let chain: X509Certificate[];
  let ca: X509Certificate;
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch {
    return { ok: false, problems: ['the certificate file is not a readable X.509 certificate'] };
  }
  try {
    ca = new X509Certificate(o.caPem);
  } catch {
    return { ok: false, problems: ['the CA file is not a readable X.509 certificate'] };
  }
  const leaf = chain[0]!;
  const problems: string[] = [];
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(o.keyPem);
  } catch {
    problems.push('the key file is not a readable (unencrypted PEM) private key');
  }
  if (key && !leaf.checkPrivateKey(key)) problems.push('the private key does not match the certificate');

  const leafName = `certificate "${leaf.subject.replace(/\n/g, ', ')}" (sha256 ${leaf.fingerprint256})`;
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!issuedBy(chain[i]!, chain[i + 1]!)) problems.push(`chain certificate ${i + 1} did not issue certificate ${i} in the chain file`);
  }
  const top = chain[chain.length - 1]!;
  if (!issuedBy(top, ca)) {
    problems.push(`${leafName} does not chain to the configured CA "${ca.subject.replace(/\n/g, ', ')}" (issuer: ${top.issuer.replace(/\n/g, ', ')})`);
  }
  if (!coversHost(leaf, o.host)) problems.push(`${leafName} does not cover host "${o.host}" (subjectAltName: ${leaf.subjectAltName ?? 'none'})`);
  if (leaf.ca) problems.push(`${leafName} is a CA certificate, not a server certificate`);
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  if (now < from) problems.push(`${leafName} is not valid before ${new Date(from).toISOString()}`);
  if (now >= to) problems.push(`${leafName} expired on ${new Date(to).toISOString()}`);
  const k = keyDescription(leaf.publicKey);
  const weakKey = k.weak?.(o.policy);
  if (weakKey) problems.push(`${leafName} is weaker than policy: ${weakKey}`);
  let sigOid = 'unknown';
  for (const c of chain) {
    const oid = signatureOid(c.raw);
    if (c === leaf) sigOid = oid;
    if (WEAK_SIGNATURES[oid]) problems.push(`certificate "${c.subject.replace(/\n/g, ', ')}" is signed with ${WEAK_SIGNATURES[oid]}, which is refused`);
  }
  return {
    ok: problems.length === 0,
    problems,
    info: {
      subject: leaf.subject.replace(/\n/g, ', '),
      issuer: leaf.issuer.replace(/\n/g, ', '),
      sans: (leaf.subjectAltName ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      notBefore: new Date(from).toISOString(),
      notAfter: new Date(to).toISOString(),
      fingerprint256: leaf.fingerprint256,
      serial: leaf.serialNumber,
      key: k.text,
      signature: SIGNATURE_NAMES[sigOid] ?? sigOid,
    },
  };
}
