// Failure type names shared by activities (which throw errors with these names) and workflows (which list
// them as non-retryable). Plain strings, so workflows never import activity code.
import { ActivityFailure } from '@temporalio/common';
export const ErrorType = {
  InvalidInput: 'InvalidInputError',
  InvalidTarget: 'InvalidTargetError',
  UnsafeOperation: 'UnsafeOperationError',
  VoteRefused: 'VoteRefused',
} as const;

/** The message that says what went wrong: an activity failure's cause, not "Activity task failed". */
export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

export const NON_RETRYABLE_ERROR_TYPES = [ErrorType.InvalidInput, ErrorType.InvalidTarget, ErrorType.UnsafeOperation];
