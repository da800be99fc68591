// Failure type names shared by activities (which throw errors with these names) and workflows (which list
// them as non-retryable). Plain strings, so workflows never import activity code.
export const ErrorType = {
  InvalidInput: 'InvalidInputError',
  InvalidTarget: 'InvalidTargetError',
  UnsafeOperation: 'UnsafeOperationError',
  VoteRefused: 'VoteRefused',
} as const;

export const NON_RETRYABLE_ERROR_TYPES = [ErrorType.InvalidInput, ErrorType.InvalidTarget, ErrorType.UnsafeOperation];
