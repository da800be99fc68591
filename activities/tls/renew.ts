// Certificate renewal at a TLS front (seed 003 Certificate Renewal): back up the live pair, obtain a new
// one (delivered files or the local CA), validate it, install it atomically, `nginx -t` and reload, verify
// over TLS, and restore the backup when anything after the install goes wrong. Every step is idempotent per
// run key: the backup and the staged new pair live in <backupDir>/<runKey>/, and a retry reuses them.
// Activities pass paths and fingerprints only: private keys never reach workflow history, logs or errors.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../../common/duration';
import type { Deps } from '../deps';
import { InvalidTargetError, UnsafeOperationError } from '../errors';
import { withHeartbeat } from '../heartbeat';
import { issueCertificate } from './openssl';
import { certificateConfig, servedCertificate, type ServedCertificate } from './served';
import { checkPair, type PairInfo } from './validate';

const run = promisify(execFile);

type Cfg = ReturnType<typeof certificateConfig>;

/** Consecutive handshakes that must show the expected certificate. */
const STABLE = 3;

export interface StoredPair {
  certFile: string;
  keyFile: string;
  fingerprint256: string;
  notAfter: string;
}

/** The configured certificate as a run sees it (paths of key files stay in the worker's config). */
export interface CertificateTarget {
  name: string;
  host: string;
  endpoint: string;
  environment: string;
  source: 'files' | 'local-ca';
  /** The renewal threshold in force (input, else config). */
  renewWithin: string;
  renewWithinMs: number;
  /** What the front served when the run resolved it; undefined when no handshake succeeded (servedError). */
  served?: ServedCertificate;
  servedError?: string;
  /** Renewal is due (or forced) as of the resolve. */
  due: boolean;
}

export interface VerifyServedResult {
  matched: boolean;
  served?: ServedCertificate;
  /** Why it did not match (another certificate served, or no handshake). */
  detail: string;
  waitedMs: number;
}

function runDir(cfg: Cfg, runKey: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(runKey)) throw new InvalidTargetError(`run key "${runKey}" cannot name a folder`);
  return path.join(cfg.backupDir, runKey);
}

async function describeFile(certFile: string, keyFile: string): Promise<StoredPair> {
  const c = new X509Certificate(await readFile(certFile));
  return { certFile, keyFile, fingerprint256: c.fingerprint256, notAfter: new Date(c.validTo).toISOString() };
}

/** Writes `data` to `file` through a temporary file and a rename, so a reader never sees half of it. */
async function atomicWrite(file: string, data: Buffer, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

/** Copies a pair to another place with the same guarantees as a fresh install (atomic, key mode 600). */
async function copyPair(from: { certFile: string; keyFile: string }, to: { certFile: string; keyFile: string }): Promise<void> {
  const [cert, key] = await Promise.all([readFile(from.certFile), readFile(from.keyFile)]);
  await mkdir(path.dirname(to.certFile), { recursive: true });
  await mkdir(path.dirname(to.keyFile), { recursive: true });
  // Key first: for a moment the front's files may disagree, but nginx reads them only at a reload.
  await atomicWrite(to.keyFile, key, 0o600);
  await atomicWrite(to.certFile, cert, 0o644);
}

function nginxArgs(cfg: Cfg): string[] {
  const prefix = cfg.reload.prefix ? path.resolve(cfg.reload.prefix) : undefined;
  const conf = path.resolve(cfg.reload.config);
  // -e: nginx would otherwise open /var/log/nginx/error.log before reading the config.
  return [...(prefix ? ['-p', prefix] : []), '-c', conf, '-e', prefix ? path.join(prefix, 'logs', 'error.log') : 'stderr'];
}

async function nginx(cfg: Cfg, extra: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(cfg.reload.bin, [...nginxArgs(cfg), ...extra], { timeout: 30_000 });
    return `${stdout}${stderr}`.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new InvalidTargetError(`nginx binary ${cfg.reload.bin} not found`);
    throw new Error(`nginx ${extra.join(' ')} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' | ')}`);
  }
}

/** `nginx -t`: the config (with the pair now on disk) loads; a failure is not retried: the files are wrong. */
async function testConfig(cfg: Cfg): Promise<void> {
  try {
    await nginx(cfg, ['-t', '-q']);
  } catch (err) {
    throw new UnsafeOperationError(`the front's configuration does not load with the installed pair, not reloading: ${(err as Error).message}`);
  }
}

export type CertificateActivities = ReturnType<typeof createCertificateActivities>;

export function createCertificateActivities(deps: Deps) {
  const cfgOf = (name: string): Cfg => certificateConfig(deps, name);

  /**
   * Polls the front until it serves `fingerprint256` on STABLE handshakes in a row, or `timeoutMs` passes.
   * Right after a reload the old workers still accept a few connections (measured: the first handshake
   * after `nginx -s reload` may get the old certificate), so one match is not enough.
   */
  async function waitServed(cfg: Cfg, fingerprint256: string, timeoutMs: number): Promise<VerifyServedResult> {
    const started = Date.now();
    let served: ServedCertificate | undefined;
    let detail = '';
    let inARow = 0;
    for (;;) {
      try {
        served = await servedCertificate(cfg.endpoint, cfg.host, cfg.caFile, 5000);
        if (served.fingerprint256 === fingerprint256) {
          if (++inARow >= STABLE) return { matched: true, served, detail: 'served', waitedMs: Date.now() - started };
        } else {
          inARow = 0;
          detail = `the front still serves sha256 ${served.fingerprint256} (expires ${served.notAfter})`;
        }
      } catch (err) {
        inARow = 0;
        detail = (err as Error).message;
      }
      if (Date.now() - started >= timeoutMs) return { matched: false, ...(served ? { served } : {}), detail, waitedMs: Date.now() - started };
      await sleep(inARow ? 200 : 500);
    }
  }

  return {
    /** The certificate's settings and what its front serves now (a front that does not answer is reported). */
    async resolveCertificate(input: { certificate: string; renewWithin?: string; force?: boolean }): Promise<CertificateTarget> {
      const cfg = cfgOf(input.certificate);
      const renewWithin = input.renewWithin ?? cfg.renewWithin;
      const renewWithinMs = parseDuration(renewWithin);
      if (renewWithinMs === undefined) throw new InvalidTargetError(`renewWithin "${renewWithin}" is not a duration`);
      let served: ServedCertificate | undefined;
      let servedError: string | undefined;
      try {
        served = await servedCertificate(cfg.endpoint, cfg.host, cfg.caFile);
      } catch (err) {
        servedError = (err as Error).message;
      }
      const due = !!input.force || !served || Date.parse(served.notAfter) - Date.now() <= renewWithinMs;
      return {
        name: input.certificate,
        host: cfg.host,
        endpoint: cfg.endpoint,
        environment: cfg.environment,
        source: cfg.source.kind,
        renewWithin,
        renewWithinMs,
        ...(served ? { served } : {}),
        ...(servedError ? { servedError } : {}),
        due,
      };
    },

    /** Copies the live pair to <backupDir>/<runKey>/current.*; a retry keeps the first copy (never the new pair). */
    async backupCertificate(input: { certificate: string; runKey: string }): Promise<StoredPair & { reused: boolean }> {
      const cfg = cfgOf(input.certificate);
      const dir = runDir(cfg, input.runKey);
      const backup = { certFile: path.join(dir, 'current.crt'), keyFile: path.join(dir, 'current.key') };
      if (existsSync(backup.certFile) && existsSync(backup.keyFile)) return { ...(await describeFile(backup.certFile, backup.keyFile)), reused: true };
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await copyPair({ certFile: cfg.certFile, keyFile: cfg.keyFile }, backup);
      return { ...(await describeFile(backup.certFile, backup.keyFile)), reused: false };
    },

    /** Stages the new pair in <backupDir>/<runKey>/new.*: the delivered files, or a pair the local CA issues (once). */
    async obtainCertificate(input: { certificate: string; runKey: string }): Promise<StoredPair & { source: string; reused: boolean }> {
      const cfg = cfgOf(input.certificate);
      const dir = runDir(cfg, input.runKey);
      const staged = { certFile: path.join(dir, 'new.crt'), keyFile: path.join(dir, 'new.key') };
      if (existsSync(staged.certFile) && existsSync(staged.keyFile)) {
        return { ...(await describeFile(staged.certFile, staged.keyFile)), source: cfg.source.kind, reused: true };
      }
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Made under temporary names and renamed: a crash midway leaves nothing that looks staged.
      const tmp = { certFile: `${staged.certFile}.part`, keyFile: `${staged.keyFile}.part` };
      await rm(tmp.certFile, { force: true });
      await rm(tmp.keyFile, { force: true });
      if (cfg.source.kind === 'files') {
        const from = { certFile: path.resolve(cfg.source.certFile), keyFile: path.resolve(cfg.source.keyFile) };
        for (const f of [from.certFile, from.keyFile]) {
          if (!existsSync(f)) throw new InvalidTargetError(`certificate "${input.certificate}": the new pair has not been delivered: ${f} does not exist`);
        }
        await copyPair(from, tmp);
      } else {
        // The CA's key stays where it is; only its path goes to openssl.
        const sans = /^[\d.]+$/.test(cfg.host) ? [`IP:${cfg.host}`] : [`DNS:${cfg.host}`];
        const [epHost] = cfg.endpoint.split(':');
        if (epHost && /^[\d.]+$/.test(epHost) && epHost !== cfg.host) sans.push(`IP:${epHost}`);
        await withHeartbeat(() =>
          issueCertificate({
            ca: { certFile: cfg.caFile, keyFile: path.resolve(cfg.source.kind === 'local-ca' ? cfg.source.caKeyFile : '') },
            host: cfg.host,
            sans,
            days: cfg.source.kind === 'local-ca' ? cfg.source.days : 90,
            certFile: tmp.certFile,
            keyFile: tmp.keyFile,
          }),
        );
      }
      await rename(tmp.keyFile, staged.keyFile);
      await rename(tmp.certFile, staged.certFile);
      return { ...(await describeFile(staged.certFile, staged.keyFile)), source: cfg.source.kind, reused: false };
    },

    /** Validates the staged pair before it is installed; any problem refuses it (not retried), naming every one. */
    async validateCertificate(input: { certificate: string; runKey: string }): Promise<PairInfo> {
      const cfg = cfgOf(input.certificate);
      const dir = runDir(cfg, input.runKey);
      const [certPem, keyPem, caPem] = await Promise.all([
        readFile(path.join(dir, 'new.crt'), 'utf8'),
        readFile(path.join(dir, 'new.key'), 'utf8'),
        readFile(cfg.caFile, 'utf8'),
      ]);
      const check = checkPair({ certPem, keyPem, caPem, host: cfg.host, policy: cfg.policy });
      if (!check.ok) throw new UnsafeOperationError(`the new pair for "${input.certificate}" is refused: ${check.problems.join('; ')}`);
      return check.info!;
    },

    /**
     * Installs the staged pair over the live files (atomically, key mode 600) if it is still the validated
     * one, then checks the front's config with it (`nginx -t`). Nothing is reloaded here.
     */
    async installCertificate(input: { certificate: string; runKey: string; fingerprint256: string }): Promise<StoredPair> {
      const cfg = cfgOf(input.certificate);
      const dir = runDir(cfg, input.runKey);
      const staged = await describeFile(path.join(dir, 'new.crt'), path.join(dir, 'new.key'));
      if (staged.fingerprint256 !== input.fingerprint256) {
        throw new UnsafeOperationError(
          `the staged certificate changed since it was validated (sha256 ${staged.fingerprint256}, validated ${input.fingerprint256})`,
        );
      }
      await copyPair(staged, { certFile: cfg.certFile, keyFile: cfg.keyFile });
      await testConfig(cfg);
      return describeFile(cfg.certFile, cfg.keyFile);
    },

    /** `nginx -t` then `nginx -s reload`: a graceful reload (old workers finish their connections). */
    async reloadFront(input: { certificate: string }): Promise<{ reloaded: true }> {
      const cfg = cfgOf(input.certificate);
      await testConfig(cfg);
      await nginx(cfg, ['-s', 'reload']);
      return { reloaded: true };
    },

    /** Whether the front serves `fingerprint256` over TLS within `timeoutMs`; not serving it is a result. */
    async verifyServedCertificate(input: { certificate: string; fingerprint256: string; timeoutMs?: number }): Promise<VerifyServedResult> {
      const cfg = cfgOf(input.certificate);
      return withHeartbeat(() => waitServed(cfg, input.fingerprint256, input.timeoutMs ?? parseDuration(cfg.verifyTimeout)!));
    },

    /** Puts the backed-up pair back, reloads the front and says whether it serves it again. */
    async restoreCertificate(input: { certificate: string; runKey: string }): Promise<{ restored: StoredPair; verify: VerifyServedResult }> {
      const cfg = cfgOf(input.certificate);
      const dir = runDir(cfg, input.runKey);
      const backup = { certFile: path.join(dir, 'current.crt'), keyFile: path.join(dir, 'current.key') };
      if (!existsSync(backup.certFile) || !existsSync(backup.keyFile)) {
        throw new InvalidTargetError(`no backup of "${input.certificate}" in ${dir}: nothing to restore`);
      }
      const restored = await describeFile(backup.certFile, backup.keyFile);
      await copyPair(backup, { certFile: cfg.certFile, keyFile: cfg.keyFile });
      await testConfig(cfg);
      await nginx(cfg, ['-s', 'reload']);
      const verify = await withHeartbeat(() => waitServed(cfg, restored.fingerprint256, parseDuration(cfg.verifyTimeout)!));
      return { restored, verify };
    },
  };
}
