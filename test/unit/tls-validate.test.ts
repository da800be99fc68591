// Validation of a new certificate/key pair (activities/tls/validate.ts) with real certificates made by
// openssl from a throwaway CA: a good pair passes, and each way a pair can be wrong is refused by name.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureCa, issueCertificate, type CaFiles, type IssueOptions } from '../../activities/tls/openssl';
import { checkPair, signatureOid } from '../../activities/tls/validate';
import { X509Certificate } from 'node:crypto';

const POLICY = { minRsaBits: 2048, minEcBits: 256 };
let dir: string;
let ca: CaFiles;
let otherCa: CaFiles;
let n = 0;

async function pair(o: Partial<IssueOptions> = {}): Promise<{ certPem: string; keyPem: string }> {
  const base = path.join(dir, `p${n++}`);
  const files = { certFile: `${base}.crt`, keyFile: `${base}.key` };
  await issueCertificate({ ca, host: 'localhost', extraSans: ['IP:127.0.0.1'], days: 90, ...o, ...files });
  return { certPem: readFileSync(files.certFile, 'utf8'), keyPem: readFileSync(files.keyFile, 'utf8') };
}

const check = (p: { certPem: string; keyPem: string }, extra: { host?: string; now?: number; caPem?: string } = {}) =>
  checkPair({
    ...p,
    caPem: extra.caPem ?? readFileSync(ca.certFile, 'utf8'),
    host: extra.host ?? 'localhost',
    policy: POLICY,
    ...(extra.now ? { now: extra.now } : {}),
  });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-tls-unit-'));
  ca = await ensureCa(path.join(dir, 'ca'), 'unit CA');
  otherCa = await ensureCa(path.join(dir, 'other-ca'), 'another CA');
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a pair from the CA for the host passes, with what it is', async () => {
  const r = check(await pair());
  expect(r.problems).toEqual([]);
  expect(r.ok).toBe(true);
  expect(r.info).toMatchObject({ subject: 'CN=localhost', issuer: 'CN=unit CA', key: 'ec 256 (prime256v1)', signature: 'ecdsa-with-SHA256' });
  expect(r.info!.sans).toEqual(['DNS:localhost', 'IP Address:127.0.0.1']);
  // The IP SAN covers the address too; an RSA 2048 key meets the policy.
  expect(check(await pair({ key: { type: 'rsa', bits: 2048 } }), { host: '127.0.0.1' }).ok).toBe(true);
});

test('a key that belongs to another certificate is refused', async () => {
  const a = await pair();
  const b = await pair();
  const r = check({ certPem: a.certPem, keyPem: b.keyPem });
  expect(r.ok).toBe(false);
  expect(r.problems).toEqual(['the private key does not match the certificate']);
});

test('an unreadable key or certificate is refused without echoing it', async () => {
  const a = await pair();
  const r = check({ certPem: a.certPem, keyPem: 'not a key' });
  expect(r.problems).toEqual(['the key file is not a readable (unencrypted PEM) private key']);
  expect(check({ certPem: 'nothing', keyPem: a.keyPem }).problems).toEqual(['the certificate file holds no PEM certificate']);
  expect(JSON.stringify(check({ certPem: a.certPem, keyPem: a.keyPem.replace('A', 'B') }))).not.toContain('PRIVATE KEY');
});

test('a certificate of another CA is refused', async () => {
  const r = check(await pair({ ca: otherCa }));
  expect(r.ok).toBe(false);
  expect(r.problems.join()).toMatch(/does not chain to the configured CA "CN=unit CA" \(issuer: CN=another CA\)/);
});

test('SANs that do not cover the host are refused (the CN alone does not count)', async () => {
  const r = check(await pair({ sans: ['DNS:reports.example.test'] }));
  expect(r.problems.join()).toMatch(/does not cover host "localhost" \(subjectAltName: DNS:reports\.example\.test\)/);
  // CN=localhost but no SAN at all: modern clients ignore the CN.
  expect(check(await pair({ sans: [] })).problems.join()).toMatch(/does not cover host "localhost" \(subjectAltName: none\)/);
});

test('expired and not-yet-valid certificates are refused', async () => {
  const p = await pair({ days: 10 });
  const c = new X509Certificate(p.certPem);
  expect(check(p, { now: Date.parse(c.validTo) + 1000 }).problems.join()).toMatch(/expired on /);
  expect(check(p, { now: Date.parse(c.validFrom) - 60_000 }).problems.join()).toMatch(/is not valid before /);
});

test('keys weaker than policy and SHA-1 signatures are refused', async () => {
  const weak = check(await pair({ key: { type: 'rsa', bits: 1024 } }));
  expect(weak.problems.join()).toMatch(/weaker than policy: its RSA key has 1024 bits, policy requires at least 2048/);
  // The signature is the CA's (EC key): ecdsa-with-SHA1.
  const sha1 = await pair({ digest: 'sha1' });
  expect(signatureOid(new X509Certificate(sha1.certPem).raw)).toBe('1.2.840.10045.4.1');
  expect(check(sha1).problems).toEqual([expect.stringMatching(/is signed with ecdsa-with-SHA1, which is refused$/)]);
  expect(signatureOid(new X509Certificate((await pair()).certPem).raw)).toBe('1.2.840.10045.4.3.2');
});

test('a CA certificate is not accepted as the server certificate', async () => {
  const r = check({ certPem: readFileSync(ca.certFile, 'utf8'), keyPem: readFileSync(ca.keyFile, 'utf8') });
  expect(r.problems.join()).toMatch(/is a CA certificate, not a server certificate/);
});
