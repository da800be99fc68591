// Renewing a TLS front's certificate (seed 003 Certificate Renewal):
//   read the served certificate over TLS -> not due (and not forced): nothing else -> approval (production)
//   -> exclusive use of tls:<name> -> back up the live pair -> obtain the new pair -> validate it (before it
//   goes near the front) -> install (undo: restore the backup and reload) -> nginx -t and graceful reload ->
//   verify over TLS that the new certificate is served (else the undo restores the old one) -> report.
// Activities get the certificate's name, the run key and fingerprints: key material never enters history.
import { ApplicationFailure } from '@temporalio/workflow';
import type { PairInfo, ServedCertificate, StoredPair, VerifyServedResult } from '../../activities';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type RunbookDefinition, type Step } from '../lib/kit';
import { certificates } from '../lib/proxies';
import { approvalPolicySchema, type ApprovalPolicy } from '../lib/approval-rules';
import {
  certificateRenewalInputSchema,
  type CertificateRenewalInput,
  type CertificateRenewalParams,
  type CertificateRenewalResult,
  type CertificateTarget,
} from './contract';

const TYPE = 'certificateRenewal';
const DAY_MS = 86_400_000;
const RESTORE = 'restore the backed-up pair and reload the front';

const PRODUCTION_APPROVAL: ApprovalPolicy = approvalPolicySchema.parse({ quorum: 1, approverRoles: ['sre-lead'], timeout: '4h' });

interface State {
  served?: ServedCertificate;
  backup?: StoredPair & { reused: boolean };
  staged?: StoredPair & { source: string; reused: boolean };
  validated?: PairInfo;
  installed?: StoredPair;
  verify?: VerifyServedResult;
  restored?: boolean;
}

type CStep = Step<CertificateRenewalParams, CertificateTarget, State>;

const daysLeft = (notAfter: string): number => Math.floor((Date.parse(notAfter) - Date.now()) / DAY_MS);
const needsApproval = (t?: CertificateTarget): boolean => t?.environment === 'production';

function dueText(t: CertificateTarget, force: boolean): string {
  if (!t.served) return `the front did not answer (${t.servedError ?? 'no handshake'})`;
  const left = `${t.served.daysLeft} days left (expires ${t.served.notAfter})`;
  if (!t.due) return `not due: ${left}, renewal within ${t.renewWithin}`;
  return force && Date.parse(t.served.notAfter) - Date.now() > t.renewWithinMs ? `forced: ${left}` : `due: ${left}, renewal within ${t.renewWithin}`;
}

function steps(input: CertificateRenewalParams, t: CertificateTarget): CStep[] {
  const name = input.certificate;
  const renew = t.due;
  const source = t.source === 'local-ca' ? 'issue a new key and certificate from the local CA' : 'take the delivered certificate and key';
  return [
    {
      id: 'check',
      kind: 'check',
      title: `read the certificate ${t.endpoint} serves to ${t.host} over TLS: ${dueText(t, input.force)}`,
      run: async (r) => {
        const s = await certificates.readServedCertificate({ certificate: name });
        r.state.served = s;
        return `sha256 ${s.fingerprint256}, expires ${s.notAfter} (${s.daysLeft} days), ${s.trusted ? 'trusted by the CA' : 'NOT issued by the configured CA'}, ${s.hostMatches ? `covers ${t.host}` : `does NOT cover ${t.host}`}`;
      },
    },
    {
      id: 'approval',
      kind: 'gate',
      title: `approval by 1 sre-lead: renewing a production certificate (timeout ${PRODUCTION_APPROVAL.timeout})`,
      when: renew && needsApproval(t),
      run: async (r) => {
        const s = await r.approve({
          detail: `Renew ${name} (${t.host} at ${t.endpoint}): ${dueText(t, input.force)}.`,
          deniedNote: 'the certificate was not touched',
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    {
      id: 'backup',
      kind: 'backup',
      title: 'copy the live certificate and key to the backup folder of this run',
      when: renew,
      changes: true,
      run: async (r) => {
        r.status('running', 'backing up the live pair');
        r.state.backup = await certificates.backupCertificate({ certificate: name, runKey: r.runKey });
        const b = r.state.backup;
        return `sha256 ${b.fingerprint256} (expires ${b.notAfter}) copied${b.reused ? ' (by an earlier attempt)' : ''}`;
      },
    },
    {
      id: 'obtain',
      kind: 'task',
      title: `${source} (staged beside the backup, not installed)`,
      when: renew,
      changes: true,
      run: async (r) => {
        r.state.staged = await certificates.obtainCertificate({ certificate: name, runKey: r.runKey });
        const s = r.state.staged;
        return `sha256 ${s.fingerprint256}, expires ${s.notAfter}${s.reused ? ' (staged by an earlier attempt)' : ''}`;
      },
    },
    {
      id: 'validate',
      kind: 'verify',
      title: `validate the new pair: key matches, chains to the CA, covers ${t.host}, valid now, key and signature not weaker than policy`,
      when: renew,
      run: async (r) => {
        r.state.validated = await certificates.validateCertificate({ certificate: name, runKey: r.runKey });
        const v = r.state.validated;
        return `valid: ${v.sans.join(', ')}; ${v.key}; ${v.signature}; until ${v.notAfter}`;
      },
    },
    {
      id: 'install',
      kind: 'deploy',
      title: "install the new pair over the front's files (atomic rename, key mode 600) and check the config (nginx -t)",
      when: renew,
      changes: true,
      undo: {
        name: RESTORE,
        run: async (r) => {
          const res = await certificates.restoreCertificate({ certificate: name, runKey: r.runKey });
          r.state.restored = true;
          if (!res.verify.matched) r.warnings.push(`after the restore the front does not serve the old certificate: ${res.verify.detail}`);
          return res;
        },
      },
      run: async (r) => {
        r.state.installed = await certificates.installCertificate({ certificate: name, runKey: r.runKey, fingerprint256: r.state.validated!.fingerprint256 });
        return `installed sha256 ${r.state.installed.fingerprint256}; nginx -t ok`;
      },
    },
    {
      id: 'reload',
      kind: 'restart',
      title: 'reload the front gracefully (nginx -s reload: open connections finish on the old workers)',
      when: renew,
      changes: true,
      run: async () => {
        await certificates.reloadFront({ certificate: name });
        return 'reloaded';
      },
    },
    {
      id: 'verify',
      kind: 'verify',
      title: `verify over TLS that ${t.endpoint} serves the new certificate to ${t.host}`,
      when: renew,
      // Served and verified: the backup stays on disk, but the run no longer puts it back.
      settles: [RESTORE],
      run: async (r) => {
        const fp = r.state.validated!.fingerprint256;
        r.state.verify = await certificates.verifyServedCertificate({ certificate: name, fingerprint256: fp });
        const v = r.state.verify;
        if (!v.matched) {
          throw ApplicationFailure.create({
            type: ErrorType.VerificationFailed,
            nonRetryable: true,
            message: `the front does not serve the new certificate (sha256 ${fp}) after ${Math.round(v.waitedMs / 1000)}s: ${v.detail}`,
          });
        }
        return `served: sha256 ${v.served!.fingerprint256}, expires ${v.served!.notAfter} (${v.served!.daysLeft} days), ${v.served!.trusted ? 'trusted' : 'NOT trusted'}`;
      },
    },
  ];
}

export const certificateRenewalRunbook: RunbookDefinition<CertificateRenewalParams, CertificateTarget, State, CertificateRenewalResult> = {
  type: TYPE,
  schema: certificateRenewalInputSchema,
  subject: (i) => `certificate renewal of ${i.certificate}`,
  target: (i) => i.certificate,
  resolve: (input) =>
    certificates.resolveCertificate({ certificate: input.certificate, force: input.force, ...(input.renewWithin ? { renewWithin: input.renewWithin } : {}) }),
  approval: (_i, t) => (needsApproval(t) && t?.due ? PRODUCTION_APPROVAL : undefined),
  exclusive: (i) => ({ key: `tls:${i.certificate}`, waitAtMost: '30m' }),
  initialState: () => ({}),
  steps,
  completed: (r) => {
    const s = r.state.served ?? r.target.served;
    if (!r.target.due)
      return `not due: ${s ? `${s.daysLeft} days left (expires ${s.notAfter})` : 'unknown'}, renewal within ${r.target.renewWithin}; nothing changed`;
    const v = r.state.verify?.served;
    return `${r.input.certificate} renewed: ${r.target.host} at ${r.target.endpoint} now serves sha256 ${v?.fingerprint256 ?? '?'} until ${v?.notAfter ?? '?'} (${v?.daysLeft ?? '?'} days; was ${s?.daysLeft ?? '?'} days left)`;
  },
  progressNote: (r) => {
    const s = r.state;
    return (
      `${s.backup ? `live pair backed up (sha256 ${s.backup.fingerprint256})` : 'nothing backed up'}; ` +
      `${s.staged ? `new pair staged (sha256 ${s.staged.fingerprint256})` : 'no new pair'}; ` +
      `${s.validated ? 'validated' : 'not validated'}; ${s.installed ? 'installed' : 'not installed'}; ` +
      `${s.verify ? (s.verify.matched ? 'served over TLS' : 'NOT served over TLS') : 'not verified'}${s.restored ? '; the old pair was restored' : ''}.`
    );
  },
  result: (base, r) => {
    const s = r.state;
    const before = s.served ?? r.target?.served;
    return {
      ...base,
      certificate: r.input.certificate,
      host: r.target?.host ?? '',
      endpoint: r.target?.endpoint ?? '',
      due: r.target?.due ?? false,
      ...(before ? { daysLeftBefore: before.daysLeft, old: { fingerprint256: before.fingerprint256, notAfter: before.notAfter } } : {}),
      ...(s.validated ? { new: { ...s.validated, daysLeft: daysLeft(s.validated.notAfter) } } : {}),
      verified: s.verify?.matched ?? false,
      ...(s.backup ? { backupDir: s.backup.certFile.replace(/\/[^/]+$/, '') } : {}),
      restored: s.restored ?? false,
    };
  },
};

export async function certificateRenewal(input: CertificateRenewalInput, resume?: Resume<CertificateTarget, State>): Promise<CertificateRenewalResult> {
  return runRunbook(certificateRenewalRunbook, input, resume);
}
