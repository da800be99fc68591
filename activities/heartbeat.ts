import { Context } from '@temporalio/activity';

/**
 * Runs `fn` while heartbeating every `everyMs`, so a dead worker is noticed within the heartbeat timeout
 * and cancellation reaches the activity. `fn` gets the activity's cancellation signal. Called outside an
 * activity (a benchmark or a test calling the function directly), it just runs `fn`.
 */
export async function withHeartbeat<T>(fn: (signal: AbortSignal) => Promise<T>, details: () => unknown = () => undefined, everyMs = 2000): Promise<T> {
  const ctx = currentActivity();
  if (!ctx) return fn(new AbortController().signal);
  ctx.heartbeat(details());
  const timer = setInterval(() => ctx.heartbeat(details()), everyMs);
  try {
    return await fn(ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}

/** The running activity's context, or undefined outside an activity (a benchmark or a test calling the function). */
export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** What the previous attempt of this activity last heartbeated (a retry after a worker died), if anything. */
export function previousHeartbeat<T>(): T | undefined {
  return currentActivity()?.info.heartbeatDetails as T | undefined;
}
