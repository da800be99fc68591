// How workflow code reads failures. The failure type names themselves live in common/ (shared with
// activities, which throw errors of those names).
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
export { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../../common/errors';

/** The message that says what went wrong: an activity failure's cause, not "Activity task failed". */
export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** The ApplicationFailure type of an error or of an activity failure's cause. */
export function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}
