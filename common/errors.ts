// Failure type names that activities throw (as error class names) and workflows list as non-retryable.
// Plain strings, so neither side imports the other's code.
export const ErrorType = {
  InvalidInput: 'InvalidInputError',
  InvalidTarget: 'InvalidTargetError',
  UnsafeOperation: 'UnsafeOperationError',
  VoteRefused: 'VoteRefused',
  VerificationFailed: 'VerificationFailed',
  RunbookFailed: 'RunbookFailed',
} as const;

export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** Retrying these cannot help: the input or the target is wrong, or the step would be unsafe. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = [ErrorType.InvalidInput, ErrorType.InvalidTarget, ErrorType.UnsafeOperation];
