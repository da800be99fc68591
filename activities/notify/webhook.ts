// The generic webhook: the notification as JSON (Slack-style `text` included), with an Idempotency-Key,
// and when the webhook has a secret, an HMAC-SHA256 signature over "<timestamp>.<body>" that receivers
// check with verifySignature (the timestamp bounds replays of a captured request).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Notification } from './types';

export const TIMESTAMP_HEADER = 'X-Runbook-Timestamp';
export const SIGNATURE_HEADER = 'X-Runbook-Signature';

export function webhookBody(n: Notification): string {
  return JSON.stringify({ ...n, text: `*${n.title}*\n${n.text}` });
}

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` */
export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function webhookHeaders(n: Notification, body: string, secret: string | undefined, nowMs = Date.now()): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': n.key };
  if (secret) {
    const ts = String(Math.floor(nowMs / 1000));
    headers[TIMESTAMP_HEADER] = ts;
    headers[SIGNATURE_HEADER] = sign(secret, ts, body);
  }
  return headers;
}

/**
 * For receivers: true when `signature` is the HMAC of this timestamp and body (the exact bytes received)
 * and the timestamp (Unix seconds) is within `toleranceSec` of now. Constant-time comparison.
 */
export function verifySignature(
  secret: string,
  timestamp: string | undefined,
  body: string,
  signature: string | undefined,
  opts: { toleranceSec?: number; nowMs?: number } = {},
): boolean {
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const age = Math.abs((opts.nowMs ?? Date.now()) / 1000 - Number(timestamp));
  if (age > (opts.toleranceSec ?? 300)) return false;
  const want = Buffer.from(sign(secret, timestamp, body));
  const got = Buffer.from(signature);
  return got.length === want.length && timingSafeEqual(got, want);
}
