// Runs the mail and webhook catcher for the local stack (npm start): SMTP on MAIL_SMTP_PORT (default 51025)
// and HTTP on MAIL_HTTP_PORT (default 58025), loopback only. Messages are also written as .eml files under
// .data/mail so they survive a restart of the catcher.
import path from 'node:path';
import { DATA } from '../scripts/stack/paths';
import { startMailSink } from './mail-sink';

async function main(): Promise<void> {
  const sink = await startMailSink({
    host: '127.0.0.1',
    smtpPort: Number(process.env.MAIL_SMTP_PORT ?? 51025),
    httpPort: Number(process.env.MAIL_HTTP_PORT ?? 58025),
    emlDir: path.join(DATA, 'mail'),
  });
  console.log(`mail sink: SMTP ${sink.host}:${sink.smtpPort}; received mail ${sink.url}/messages, hooks ${sink.url}/hooks`);
  const stop = (): void => {
    sink.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: Error) => {
  console.error(`mail sink: ${err.message}`);
  process.exit(1);
});
