// Durations as people write them in inputs ('90s', '30m', '4h', '2 days'), parsed by the `ms` library:
// pure, so the same rules run in the workflow sandbox and at the edges.
import ms, { type StringValue } from 'ms';

/** Milliseconds of a duration string, or undefined when it is not one (or not positive). */
export function parseDuration(s: string): number | undefined {
  if (typeof s !== 'string' || s.length > 40 || s.trim() === '') return undefined;
  let n: number | undefined;
  try {
    n = ms(s.trim() as StringValue);
  } catch {
    // `ms` throws on some inputs (an empty string) instead of answering "not a duration".
    return undefined;
  }
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

export function durationMs(s: string): number {
  const n = parseDuration(s);
  if (n === undefined) throw new RangeError(`not a positive duration: "${s}"`);
  return n;
}
