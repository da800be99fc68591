// TLS certificates the certificate-renewal runbook keeps valid (seed 003 "Certificate Renewal"): where the
// front serves them, the files it reads, where new pairs come from, how it reloads, and the policy a new
// pair must meet before it is installed.
import { z } from 'zod';
import { parseDuration } from '../common/duration';

export const certificateSchema = z
  .object({
    host: z.string().min(1).describe('the name clients use: the SNI sent and the name the certificate must cover'),
    endpoint: z
      .string()
      .regex(/^[^:\s]+:\d+$/, 'host:port')
      .describe('where the front serves TLS, e.g. 127.0.0.1:58443'),
    certFile: z.string().min(1).describe('the certificate (chain) file the front reads'),
    keyFile: z.string().min(1).describe('the private key file the front reads'),
    caFile: z.string().min(1).describe('the CA certificate new pairs must chain to (and TLS checks trust)'),
    source: z
      .discriminatedUnion('kind', [
        z
          .object({
            kind: z.literal('files'),
            certFile: z.string().min(1).describe('where a new certificate is delivered'),
            keyFile: z.string().min(1).describe('where its key is delivered'),
          })
          .strict(),
        z
          .object({
            kind: z.literal('local-ca'),
            caKeyFile: z.string().min(1).describe("the CA's private key (the CA certificate is caFile)"),
            days: z.number().int().min(1).max(825).default(90),
          })
          .strict(),
      ])
      .describe('where new pairs come from: files delivered by another process, or issued by a local CA'),
    reload: z
      .object({
        kind: z.literal('nginx'),
        bin: z.string().min(1).default('/usr/sbin/nginx'),
        config: z.string().min(1).describe('the nginx.conf of the front'),
        prefix: z.string().min(1).optional().describe('nginx -p prefix'),
      })
      .strict(),
    backupDir: z.string().min(1).describe('where the current pair is copied before a new one is installed'),
    verifyTimeout: z
      .string()
      .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "15s"')
      .default('15s')
      .describe('after a reload: how long the front may take to serve the new pair (else the backup is put back)'),
    renewWithin: z
      .string()
      .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "30d"')
      .default('30d'),
    policy: z
      .object({
        minRsaBits: z.number().int().min(1024).default(2048),
        minEcBits: z.number().int().min(224).default(256),
      })
      .strict()
      .prefault({}),
    environment: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/)
      .default('production')
      .describe('production needs an approval'),
  })
  .strict();

export type CertificateConfig = z.infer<typeof certificateSchema>;
