// The mail and webhook catcher (demo/mail-sink-main.ts): the SMTP server notify.email sends to, and the
// receiver of the stack's Slack, PagerDuty and signed webhook notifications, so people can see them.
import path from 'node:path';
import { TSX, type Component, type StackContext } from '../component';
import { HOST, PORTS, ROOT } from '../paths';
import { portOpen, startProcess } from '../process';

export function mail({ env }: StackContext): Component<'mail'> {
  return {
    name: 'mail',
    address: `smtp://${HOST}:${PORTS.mailSmtp}   (received: http://${HOST}:${PORTS.mailHttp}/messages, /hooks)`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.mailSmtp)) && (await fetch(`http://${HOST}:${PORTS.mailHttp}/messages`)).ok,
    async start() {
      startProcess('mail', process.execPath, [...TSX, path.join(ROOT, 'demo', 'mail-sink-main.ts')], {
        env: { ...env, MAIL_SMTP_PORT: String(PORTS.mailSmtp), MAIL_HTTP_PORT: String(PORTS.mailHttp) },
        cwd: ROOT,
      });
    },
  };
}
