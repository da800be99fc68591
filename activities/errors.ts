// Typed errors: the class name becomes the Temporal failure type, so retry policies can name it.
import { ErrorType } from '../common/errors';

/** A target, table, collection or person that is not configured or does not exist. Never retried. */
export class InvalidTargetError extends Error {
  override name = ErrorType.InvalidTarget;
}

/** A step that would be unsafe to run as asked (e.g. a refresh that would lock readers). Never retried. */
export class UnsafeOperationError extends Error {
  override name = ErrorType.UnsafeOperation;
}

/** Removes credentials from a URL before it appears in a message or log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
