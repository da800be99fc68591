// openssl, run with argument arrays (never a shell string): a local CA and the pairs it issues. Keys are
// written to files with mode 600 and never read into messages; openssl's stderr names files, not keys.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const OPENSSL_BIN = process.env.OPENSSL_BIN ?? 'openssl';

export async function openssl(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(OPENSSL_BIN, args, { timeout: 60_000, maxBuffer: 1 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(0, 3).join(' | ')}`);
  }
}

export type KeySpec = { type: 'ec'; curve?: 'P-256' | 'P-384' } | { type: 'rsa'; bits: number };

/** Makes a private key file (mode 600). */
export async function generateKey(file: string, spec: KeySpec = { type: 'ec' }): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const opts =
    spec.type === 'ec'
      ? ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${spec.curve ?? 'P-256'}`]
      : ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${spec.bits}`];
  await openssl(['genpkey', ...opts, '-out', file]);
  await chmod(file, 0o600);
}

export interface CaFiles {
  certFile: string;
  keyFile: string;
}

/** Creates a CA (EC P-256, 10 years) in `dir` as ca.crt/ca.key, once: existing files are kept. */
export async function ensureCa(dir: string, commonName = 'temporal-runbooks local CA'): Promise<CaFiles> {
  const ca = { certFile: path.join(dir, 'ca.crt'), keyFile: path.join(dir, 'ca.key') };
  if (existsSync(ca.certFile) && existsSync(ca.keyFile)) return ca;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await generateKey(ca.keyFile);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    ca.keyFile,
    '-sha256',
    '-days',
    '3650',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    ca.certFile,
  ]);
  return ca;
}

export interface IssueOptions {
  ca: CaFiles;
  host: string;
  /** Extra subjectAltName entries, e.g. "IP:127.0.0.1" (the host itself is always added, unless sans is given). */
  extraSans?: string[];
  /** Replaces the SANs entirely (to make a certificate that does not cover the host). */
  sans?: string[];
  days: number;
  certFile: string;
  keyFile: string;
  key?: KeySpec;
  /** Signature digest; sha1 only to make certificates the validation must refuse. */
  digest?: 'sha256' | 'sha384' | 'sha1';
}

const isIp = (h: string): boolean => /^[\d.]+$/.test(h) || h.includes(':');

/** Issues a server certificate for `host` from the CA: key, CSR, signature. Writes certFile and keyFile. */
export async function issueCertificate(o: IssueOptions): Promise<void> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'rb-issue-'));
  try {
    await generateKey(o.keyFile, o.key);
    const csr = path.join(tmp, 'req.csr');
    await openssl(['req', '-new', '-key', o.keyFile, '-subj', `/CN=${o.host}`, '-out', csr]);
    const sans = o.sans ?? [isIp(o.host) ? `IP:${o.host}` : `DNS:${o.host}`, ...(o.extraSans ?? [])];
    const ext = path.join(tmp, 'ext.cnf');
    await writeFile(
      ext,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
        '',
      ].join('\n'),
    );
    await mkdir(path.dirname(o.certFile), { recursive: true });
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      o.ca.certFile,
      '-CAkey',
      o.ca.keyFile,
      '-set_serial',
      `0x${randomBytes(12).toString('hex')}`,
      '-days',
      String(o.days),
      `-${o.digest ?? 'sha256'}`,
      '-extfile',
      ext,
      '-out',
      o.certFile,
    ]);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
