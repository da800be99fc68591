// The certificate-renewal runbook against a real TLS front: a private nginx (own folder, own port, own CA
// made with openssl) in front of this env's demo service, serving a certificate with 10 days left. Every
// check of what is served is a real TLS handshake. Covered: not due (nothing changes), a key mismatch and a
// SAN that misses the host refused before install (the old certificate keeps serving), a verification that
// fails (the backup is restored), production waits for an approval, bad input, and a real renewal.
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { castVote } from '../../client/runbooks';
import { ensureCa, issueCertificate, type CaFiles } from '../../activities/tls/openssl';
import { servedCertificate } from '../../activities/tls/served';
import { NGINX_BIN, prepareFront } from '../../scripts/stack/tls';
import { HOST } from '../../scripts/stack/paths';
import type { CertificateRenewalResult } from '../../workflows/certificate-renewal/contract';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { failureOf, gateOpen, startRun } from '../helpers/runs';

const TYPE = 'certificateRenewal';
const HOST_NAME = 'localhost';

let env: TestEnv;
let dir: string;
let ca: CaFiles;
const fronts: ChildProcess[] = [];
const live = { certFile: '', keyFile: '' };
let port: number;
let stalePort: number;
let oldFingerprint: string;

function freePort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve) =>
    srv.listen(0, HOST, () => {
      const { port: p } = srv.address() as { port: number };
      srv.close(() => resolve(p));
    }),
  );
}

/** Starts nginx in the foreground (daemon off) and waits until it answers TLS. */
async function startFront(prefix: string, p: number, pair: { certFile: string; keyFile: string }): Promise<string> {
  const conf = path.join(prefix, 'nginx.conf');
  const args = await prepareFront({ prefix, port: p, serverName: HOST_NAME, certFile: pair.certFile, keyFile: pair.keyFile, upstream: env.demo.url }, conf);
  const child = spawn(NGINX_BIN, args, { stdio: 'ignore' });
  fronts.push(child);
  await eventually(() => servedCertificate(`${HOST}:${p}`, HOST_NAME).catch(() => undefined), 20_000, `nginx on ${p}`);
  return conf;
}

const served = () => servedCertificate(`${HOST}:${port}`, HOST_NAME, ca.certFile);
const fingerprintOf = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

/** The front proxies to the demo service: a request through it still gets an answer. */
async function frontAnswers(): Promise<number> {
  // Node's fetch cannot be given a CA per request; a raw TLS request is enough to prove nginx proxies.
  const tls = await import('node:tls');
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: HOST, port, servername: HOST_NAME, ca: readFileSync(ca.certFile) }, () => {
      s.write(`GET /health HTTP/1.1\r\nHost: ${HOST_NAME}\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-tls-'));
  ca = await ensureCa(path.join(dir, 'ca'), 'runbooks test CA');
  live.certFile = path.join(dir, 'live', 'front.crt');
  live.keyFile = path.join(dir, 'live', 'front.key');
  await issueCertificate({ ca, host: HOST_NAME, extraSans: [`IP:${HOST}`], days: 10, ...live });
  oldFingerprint = fingerprintOf(live.certFile);
  // Delivered pairs for the `files` source: a key that belongs to another certificate, and a SAN for another host.
  const other = { certFile: path.join(dir, 'other', 'o.crt'), keyFile: path.join(dir, 'other', 'o.key') };
  await issueCertificate({ ca, host: HOST_NAME, days: 90, certFile: path.join(dir, 'mismatch', 'new.crt'), keyFile: path.join(dir, 'mismatch', 'unused.key') });
  await issueCertificate({ ca, host: HOST_NAME, days: 90, ...other });
  copyFileSync(other.keyFile, path.join(dir, 'mismatch', 'new.key'));
  await issueCertificate({ ca, host: 'reports.example.test', days: 90, certFile: path.join(dir, 'san', 'new.crt'), keyFile: path.join(dir, 'san', 'new.key') });
  // A second front that keeps serving a copy of the old pair: where the "stale" certificate's checks look.
  mkdirSync(path.join(dir, 'stale'), { recursive: true });
  const stale = { certFile: path.join(dir, 'stale', 'front.crt'), keyFile: path.join(dir, 'stale', 'front.key') };
  copyFileSync(live.certFile, stale.certFile);
  copyFileSync(live.keyFile, stale.keyFile);
  port = await freePort();
  stalePort = await freePort();
  const prefix = path.join(dir, 'nginx');
  const base = {
    host: HOST_NAME,
    endpoint: `${HOST}:${port}`,
    ...live,
    caFile: ca.certFile,
    source: { kind: 'local-ca' as const, caKeyFile: ca.keyFile, days: 90 },
    reload: { kind: 'nginx' as const, bin: NGINX_BIN, config: path.join(prefix, 'nginx.conf'), prefix },
    backupDir: path.join(dir, 'backup'),
    environment: 'local',
  };
  env = await createTestEnv({
    configure: (raw) => {
      raw.certificates = {
        front: base,
        'front-mismatch': {
          ...base,
          source: { kind: 'files', certFile: path.join(dir, 'mismatch', 'new.crt'), keyFile: path.join(dir, 'mismatch', 'new.key') },
        },
        'front-san': { ...base, source: { kind: 'files', certFile: path.join(dir, 'san', 'new.crt'), keyFile: path.join(dir, 'san', 'new.key') } },
        'front-stale': { ...base, endpoint: `${HOST}:${stalePort}`, verifyTimeout: '3s' },
        'front-prod': { ...base, environment: 'production' },
      };
    },
  });
  await startFront(prefix, port, live);
  await startFront(path.join(dir, 'nginx-stale'), stalePort, stale);
  await env.startWorker();
}, 120_000);

afterAll(async () => {
  for (const f of fronts) if (f.exitCode === null && f.signalCode === null) f.kill('SIGTERM');
  await env?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the front serves the 10-day certificate of the test CA over TLS', async () => {
  const s = await served();
  expect(s).toMatchObject({ fingerprint256: oldFingerprint, trusted: true, hostMatches: true });
  expect(s.daysLeft).toBeGreaterThanOrEqual(9);
  expect(s.daysLeft).toBeLessThanOrEqual(10);
  expect(await frontAnswers()).toBe(200);
});

test('not due (10 days left, renew within 5d): the run changes nothing', async () => {
  const h = await startRun<CertificateRenewalResult>(env, TYPE, { certificate: 'front', renewWithin: '5d', requestedBy: 'bob' });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.due).toBe(false);
  expect(r.reason).toMatch(/^not due: (9|10) days left/);
  expect(r.plan.map((s) => s.id)).not.toContain('install');
  expect((await served()).fingerprint256).toBe(oldFingerprint);
  expect(fingerprintOf(live.certFile)).toBe(oldFingerprint);
  await saveHistoryIfRecording('certificate-renewal-not-due', h);
});

test('a dry run shows the plan and the days left, and changes nothing', async () => {
  const h = await startRun<CertificateRenewalResult>(env, TYPE, { certificate: 'front', requestedBy: 'bob', dryRun: true });
  const r = await h.result();
  expect(r.outcome).toBe('dry-run');
  expect(r.plan.find((s) => s.id === 'check')!.title).toMatch(/due: (9|10) days left .*renewal within 30d/);
  expect(r.plan.map((s) => s.id)).toEqual(expect.arrayContaining(['backup', 'obtain', 'validate', 'install', 'reload', 'verify']));
  expect(r.plan.find((s) => s.id === 'approval')).toBeUndefined();
  expect((await served()).fingerprint256).toBe(oldFingerprint);
});

test('a delivered pair whose key does not match is refused before install; the old certificate keeps serving', async () => {
  const h = await startRun(env, TYPE, { certificate: 'front-mismatch', requestedBy: 'bob' });
  const f = await failureOf(h);
  expect(f.message).toMatch(/failed at validate: .*the private key does not match the certificate/);
  expect(f.message).not.toMatch(/BEGIN|PRIVATE KEY/);
  expect(fingerprintOf(live.certFile)).toBe(oldFingerprint);
  expect((await served()).fingerprint256).toBe(oldFingerprint);
  expect(await frontAnswers()).toBe(200);
});

test('a delivered certificate for another host is refused before install', async () => {
  const h = await startRun(env, TYPE, { certificate: 'front-san', requestedBy: 'bob' });
  const f = await failureOf(h);
  expect(f.message).toMatch(/does not cover host "localhost" \(subjectAltName: DNS:reports\.example\.test\)/);
  expect(fingerprintOf(live.certFile)).toBe(oldFingerprint);
  expect((await served()).fingerprint256).toBe(oldFingerprint);
});

test('the new certificate is not seen over TLS: the run fails and restores the backup', async () => {
  const h = await startRun<CertificateRenewalResult>(env, TYPE, { certificate: 'front-stale', requestedBy: 'bob' });
  const f = await failureOf(h);
  expect(f.message).toMatch(/failed at verify: the front does not serve the new certificate/);
  expect(f.message).toMatch(/Undone: restore the backed-up pair and reload the front ok/);
  // The front that did get the new pair serves the old one again, from the restored files.
  expect(fingerprintOf(live.certFile)).toBe(oldFingerprint);
  await eventually(async () => (await served()).fingerprint256 === oldFingerprint, 20_000, 'the old certificate served again');
  expect(await frontAnswers()).toBe(200);
  await saveHistoryIfRecording('certificate-renewal-restored', h);
});

test('production: the renewal waits for an sre-lead; rejected, nothing changes', async () => {
  const h = await startRun<CertificateRenewalResult>(env, TYPE, { certificate: 'front-prod', requestedBy: 'bob' });
  await gateOpen(h, 30_000);
  await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'reject', comment: 'not during the release' });
  const r = await h.result();
  expect(r.outcome).toBe('rejected');
  expect(r.plan.find((s) => s.id === 'backup')!.status).not.toBe('done');
  expect((await served()).fingerprint256).toBe(oldFingerprint);
});

test('bad input: an unknown certificate and a bad duration are refused', async () => {
  const unknown = await failureOf(await startRun(env, TYPE, { certificate: 'nope', requestedBy: 'bob' }));
  expect(unknown.message).toMatch(/certificate "nope" is not configured; known certificates: front, front-mismatch/);
  const bad = await failureOf(await startRun(env, TYPE, { certificate: 'front', renewWithin: 'soon', requestedBy: 'bob' }));
  expect(bad.message).toMatch(/renewWithin.*must be a positive duration/);
});

test('a certificate close to expiry is renewed from the CA and the new one is served over TLS', async () => {
  const h = await startRun<CertificateRenewalResult>(env, TYPE, { certificate: 'front', requestedBy: 'bob' });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.verified).toBe(true);
  expect(r.restored).toBe(false);
  expect(r.compensations).toEqual([]);
  expect(fingerprintOf(live.certFile)).toBe(r.new!.fingerprint256);
  expect(r.old!.fingerprint256).toBe(oldFingerprint);
  const s = await served();
  expect(s.fingerprint256).toBe(r.new!.fingerprint256);
  expect(s.fingerprint256).not.toBe(oldFingerprint);
  expect(s).toMatchObject({ trusted: true, hostMatches: true });
  expect(s.daysLeft).toBeGreaterThanOrEqual(89);
  expect(s.daysLeft).toBeLessThanOrEqual(90);
  // The old pair is in the backup; the live key is readable by its owner only.
  expect(fingerprintOf(path.join(r.backupDir!, 'current.crt'))).toBe(oldFingerprint);
  expect(existsSync(path.join(r.backupDir!, 'current.key'))).toBe(true);
  expect(statSync(live.keyFile).mode & 0o777).toBe(0o600);
  expect(await frontAnswers()).toBe(200);
  await saveHistoryIfRecording('certificate-renewal-completed', h);
});
