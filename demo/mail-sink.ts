// A mail and webhook catcher for the local stack and the tests: a real SMTP server (smtp-server) that keeps
// every message it accepts (parsed with mailparser), and an HTTP side that shows them and also captures
// webhook POSTs (/hooks/:name), so the stack's Slack, PagerDuty and generic webhook notifications can be
// seen without any outside service. Loopback only: no SMTP auth, a size limit, messages in memory.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface CapturedMessage {
  id: string;
  from: string;
  /** Envelope recipients (RCPT TO): who the server was asked to deliver to, Bcc included. */
  to: string[];
  subject: string;
  text: string;
  messageId: string;
  date: string;
  headers: Record<string, string>;
  raw: string;
}

export interface CapturedHook {
  name: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when it is JSON, else the text. */
  body: unknown;
  /** The exact bytes received (as text): what a signature covers. */
  raw: string;
  at: string;
}

export interface MailSinkOptions {
  host?: string;
  /** 0 = any free port. */
  smtpPort?: number;
  httpPort?: number;
  /** Also write each message as <id>.eml here. */
  emlDir?: string;
  /** Largest message accepted, bytes (default 1 MiB). */
  maxBytes?: number;
}

export interface MailSink {
  smtpPort: number;
  httpPort: number;
  host: string;
  /** http://host:httpPort */
  url: string;
  messages(): CapturedMessage[];
  hooks(name?: string): CapturedHook[];
  /** Resolves with the first message (already here or arriving) that matches. */
  waitForMessage(pred: (m: CapturedMessage) => boolean, timeoutMs?: number): Promise<CapturedMessage>;
  waitForHook(pred: (h: CapturedHook) => boolean, timeoutMs?: number): Promise<CapturedHook>;
  clear(): void;
  close(): Promise<void>;
}

const addrs = (a: AddressObject | AddressObject[] | undefined): string => (Array.isArray(a) ? a : a ? [a] : []).map((x) => x.text).join(', ');

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startMailSink(opts: MailSinkOptions = {}): Promise<MailSink> {
  const host = opts.host ?? '127.0.0.1';
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  const messages: CapturedMessage[] = [];
  const hooks: CapturedHook[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => waiters.forEach((w) => w());
  if (opts.emlDir) mkdirSync(opts.emlDir, { recursive: true });

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: maxBytes,
    banner: 'runbooks mail sink',
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
          callback(Object.assign(new Error('message too large'), { responseCode: 552 }));
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            const id = randomUUID().slice(0, 8);
            const headers: Record<string, string> = {};
            for (const line of parsed.headerLines) headers[line.key] = line.line.slice(line.line.indexOf(':') + 1).trim();
            messages.push({
              id,
              from: addrs(parsed.from) || (session.envelope.mailFrom ? session.envelope.mailFrom.address : ''),
              to: session.envelope.rcptTo.map((r) => r.address),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              messageId: parsed.messageId ?? '',
              date: (parsed.date ?? new Date()).toISOString(),
              headers,
              raw: raw.toString('utf8'),
            });
            if (opts.emlDir) writeFileSync(path.join(opts.emlDir, `${id}.eml`), raw);
            wake();
            callback();
          })
          .catch((err: Error) => callback(err));
      });
    },
  });

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2));
  };
  const http: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sink');
    const p = url.pathname;
    const hook = /^\/hooks\/([A-Za-z0-9._-]+)$/.exec(p);
    if (req.method === 'POST' && hook) {
      readBody(req, maxBytes).then(
        (raw) => {
          let body: unknown = raw;
          try {
            body = JSON.parse(raw);
          } catch {
            // Not JSON: kept as text.
          }
          hooks.push({ name: hook[1]!, headers: req.headers, body, raw, at: new Date().toISOString() });
          wake();
          res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}');
        },
        () => res.writeHead(413).end(),
      );
      return;
    }
    if (req.method === 'GET' && p === '/messages') {
      json(
        res,
        200,
        messages.map(({ id, from, to, subject, text, messageId, date }) => ({ id, from, to, subject, text, messageId, date })),
      );
      return;
    }
    const eml = /^\/messages\/([a-z0-9-]+)\.eml$/.exec(p);
    if (req.method === 'GET' && eml) {
      const m = messages.find((x) => x.id === eml[1]);
      if (!m) json(res, 404, { error: 'no such message' });
      else res.writeHead(200, { 'content-type': 'message/rfc822' }).end(m.raw);
      return;
    }
    if (req.method === 'DELETE' && p === '/messages') {
      messages.length = 0;
      json(res, 200, { deleted: true });
      return;
    }
    if (req.method === 'GET' && p === '/hooks') {
      const name = url.searchParams.get('name');
      json(
        res,
        200,
        hooks.filter((h) => !name || h.name === name).map(({ name: n, headers, body, at }) => ({ name: n, headers, body, at })),
      );
      return;
    }
    if (req.method === 'DELETE' && p === '/hooks') {
      hooks.length = 0;
      json(res, 200, { deleted: true });
      return;
    }
    json(res, 404, { error: 'GET /messages, GET /messages/:id.eml, DELETE /messages, POST /hooks/:name, GET /hooks' });
  });

  const listen = (srv: { listen(port: number, host: string, cb: () => void): unknown; once(e: 'error', cb: (err: Error) => void): unknown }, port: number) =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, resolve);
    });
  await listen(smtp, opts.smtpPort ?? 0);
  try {
    await listen(http, opts.httpPort ?? 0);
  } catch (err) {
    await new Promise<void>((r) => smtp.close(() => r()));
    throw err;
  }
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const httpPort = (http.address() as AddressInfo).port;

  function waitFor<T>(list: () => T[], pred: (x: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = list().find(pred);
        if (!hit) return false;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(hit);
        return true;
      };
      const waiter = (): void => void check();
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`mail sink: no matching ${what} within ${timeoutMs} ms (have ${list().length})`));
      }, timeoutMs);
      waiters.add(waiter);
      check();
    });
  }

  return {
    smtpPort,
    httpPort,
    host,
    url: `http://${host}:${httpPort}`,
    messages: () => [...messages],
    hooks: (name) => hooks.filter((h) => !name || h.name === name),
    waitForMessage: (pred, timeoutMs = 20_000) => waitFor(() => messages, pred, timeoutMs, 'message'),
    waitForHook: (pred, timeoutMs = 20_000) => waitFor(() => hooks, pred, timeoutMs, 'hook'),
    clear() {
      messages.length = 0;
      hooks.length = 0;
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await new Promise<void>((r) => smtp.close(() => r()));
    },
  };
}
