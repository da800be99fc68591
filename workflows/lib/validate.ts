import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';

import { ErrorType } from './errors';

export const INVALID_INPUT = ErrorType.InvalidInput;

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const field = i.path.map((p, idx) => (typeof p === 'number' ? `[${p}]` : idx === 0 ? String(p) : `.${String(p)}`)).join('');
      return `${field || '(input)'}: ${i.message}`;
    })
    .join('; ');
}

/**
 * Parses workflow input. Bad input fails the workflow at once with a non-retryable InvalidInputError that
 * names every bad field, before any step has run.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, runbook: string): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw ApplicationFailure.create({
    message: `invalid ${runbook} input: ${describeIssues(result.error)}`,
    type: INVALID_INPUT,
    nonRetryable: true,
    details: [result.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message }))],
  });
}
