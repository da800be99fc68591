import { Context } from '@temporalio/activity';

/**
 * Runs `fn` while heartbeating every `everyMs`, so a dead worker is noticed within the heartbeat timeout
 * and cancellation reaches the activity. `fn` gets the activity's cancellation signal.
 */
export async function withHeartbeat<T>(fn: (signal: AbortSignal) => Promise<T>, details: () => unknown = () => undefined, everyMs = 2000): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details());
  const timer = setInterval(() => ctx.heartbeat(details()), everyMs);
  try {
    return await fn(ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}
