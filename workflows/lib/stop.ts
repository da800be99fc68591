import type { RunOutcome } from './result';

/**
 * Thrown by a step (Run.stop) to end the run at a safe point with a reported outcome, not a failure: the
 * step itself did its job (it found the reason to stop), so it shows as done with the reason as detail.
 */
export class StopRun extends Error {
  constructor(
    readonly outcome: Exclude<RunOutcome, 'completed' | 'completed-with-warnings' | 'dry-run'>,
    message: string,
  ) {
    super(message);
  }
}
