// The certificate-renewal runbook's contract (seed 003 Certificate Renewal): input schema, result, example
// input and the summary lines.
import { z } from 'zod';
import type { CertificateTarget, PairInfo } from '../../activities';

export type { CertificateTarget };
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, targetName } from '../lib/schema';

export const certificateRenewalInputSchema = z
  .object({
    ...baseInputShape,
    certificate: targetName.describe('configured certificate (config certificates.<name>), e.g. "reports-tls"'),
    renewWithin: duration('825d').optional().describe('renew when the served certificate expires within this (default config renewWithin, 30d)'),
    force: z.boolean().default(false).describe('renew even when the served certificate is not due'),
  })
  .strict();

export type CertificateRenewalInput = z.input<typeof certificateRenewalInputSchema>;
export type CertificateRenewalParams = z.output<typeof certificateRenewalInputSchema>;

export interface CertificateRenewalResult extends RunbookResult {
  certificate: string;
  host: string;
  endpoint: string;
  /** Renewal was due (or forced); false: nothing changed. */
  due: boolean;
  daysLeftBefore?: number;
  old?: { fingerprint256: string; notAfter: string };
  new?: PairInfo & { daysLeft: number };
  /** The new certificate was seen served over TLS. */
  verified: boolean;
  /** Where the old pair was copied (a folder of the worker's machine). */
  backupDir?: string;
  /** The backup was put back (verification failed or the run was undone). */
  restored: boolean;
}

export function exampleCertificateRenewalInput(): CertificateRenewalInput {
  return { certificate: 'reports-tls', requestedBy: 'alice' };
}

export function summarizeCertificateRenewal(r: CertificateRenewalResult): string[] {
  const lines = [`${r.certificate}: ${r.host} at ${r.endpoint}${r.daysLeftBefore !== undefined ? `, ${r.daysLeftBefore} days left before` : ''}`];
  if (r.old) lines.push(`old: sha256 ${r.old.fingerprint256}, expires ${r.old.notAfter}`);
  if (r.new) lines.push(`new: sha256 ${r.new.fingerprint256}, expires ${r.new.notAfter} (${r.new.daysLeft} days), ${r.new.key}, ${r.new.signature}`);
  if (r.due && r.outcome !== 'dry-run')
    lines.push(
      `verified over TLS: ${r.verified ? 'yes' : 'no'}${r.restored ? '; the old pair was restored' : ''}${r.backupDir ? `; backup in ${r.backupDir}` : ''}`,
    );
  return lines;
}
