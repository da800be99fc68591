// Starting, finding and stopping the stack's server processes. Each runs detached in its own process
// group with output appended to .data/logs/<name>.log and its pid in .data/run/<name>.pid, so `npm stop`,
// a later `npm start` and the test suite can all find it.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { LOGS, RUN, type Owner } from './paths';

export function logFile(name: string): string {
  return path.join(LOGS, `${name}.log`);
}

function pidFile(name: string): string {
  return path.join(RUN, `${name}.pid`);
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, log?: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${what} was not ready after ${Math.round(timeoutMs / 1000)}s${lastError ? ` (last error: ${lastError})` : ''}` +
      (log ? `\n--- last lines of ${log} ---\n${tail(log)}` : ''),
  );
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  owner?: Owner;
}

/** Starts `cmd args` detached (no shell), logging to its log file; returns its pid. */
export function startProcess(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): number {
  mkdirSync(LOGS, { recursive: true });
  mkdirSync(RUN, { recursive: true });
  const out = openSync(logFile(name), 'a');
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', out, out],
      env: opts.env ?? process.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.owner ? { uid: opts.owner.uid, gid: opts.owner.gid } : {}),
    });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
    child.unref();
    // The pid and what it runs: after a reboot the pid may belong to something else, never to be signalled.
    const marker = path.basename(args.find((a) => a.endsWith('.ts')) ?? cmd);
    writeFileSync(pidFile(name), `${child.pid}\n${marker}\n`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** The pid of our running `name`, or undefined when the pid file is missing, stale or names another program. */
export function readPid(name: string): number | undefined {
  const f = pidFile(name);
  if (!existsSync(f)) return undefined;
  const [pidLine, marker] = readFileSync(f, 'utf8').split('\n');
  const pid = Number(pidLine);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // Substring: some servers (redis) rewrite their command line into a title.
    if (marker && !cmdline.includes(marker)) return undefined;
  } catch {
    return undefined; // gone, or not ours to read
  }
  return pid;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends `signal`, waits up to `timeoutMs` for the process to exit, then SIGKILLs it. */
export async function stopProcess(name: string, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<'stopped' | 'killed' | 'not-running'> {
  const pid = readPid(name);
  if (!pid) {
    rmSync(pidFile(name), { force: true });
    return 'not-running';
  }
  try {
    process.kill(pid, signal);
  } catch {
    rmSync(pidFile(name), { force: true });
    return 'not-running';
  }
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!alive(pid)) {
      rmSync(pidFile(name), { force: true });
      return 'stopped';
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited in the meantime
  }
  rmSync(pidFile(name), { force: true });
  return 'killed';
}
