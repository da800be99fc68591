// The pieces of cache invalidation that need no server: Redis glob semantics in JavaScript (the protect
// check; the integration test also compares it with Redis's own SCAN MATCH), the literal prefix of a
// pattern, and the runbook's input schema with its refusals.
import { execFileSync } from 'node:child_process';
import { escapeGlob, globMatcher, globToRegExp, literalPrefix } from '../../activities/cache/glob';
import { runbookByName } from '../../client/registry';
import { cacheInvalidateInputSchema, describePattern, hitRateStatus, warmCommand } from '../../workflows/cache-invalidate/contract';

const matches = (pattern: string, key: string): boolean => globToRegExp(pattern).test(key);

describe('globToRegExp follows Redis glob rules', () => {
  test.each([
    ['analytics:*', 'analytics:42:task_totals', true],
    ['analytics:*', 'analytics:', true],
    ['analytics:*', 'analytics', false],
    ['analytics:*', 'xanalytics:1', false],
    ['*', '', true],
    ['a**b', 'ab', true],
    ['a*b*c', 'a-x-b-y-c', true],
    ['a*b*c', 'a-x-b-y-cd', false],
    ['user:4?', 'user:42', true],
    ['user:4?', 'user:4', false],
    ['user:4?', 'user:420', false],
    ['k[abc]', 'kb', true],
    ['k[abc]', 'kd', false],
    ['k[^abc]', 'kd', true],
    ['k[^abc]', 'ka', false],
    ['k[a-c]', 'kb', true],
    ['k[c-a]', 'kb', true], // a reversed range is swapped
    ['k[a-c]', 'kd', false],
    ['k[\\]]', 'k]', true],
    ['k[\\-]', 'k-', true],
    ['k[]', 'k', false],
    ['k[]', 'kx', false], // an empty class matches nothing
    ['k[^]', 'kx', true], // and its negation any one character
    ['k[ab', 'ka', true], // an unclosed class runs to the end
    ['k[ab', 'kb', true],
    ['k[ab', 'k[ab', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a\\?', 'a?', true],
    ['a\\[b]', 'a[b]', true],
    ['a\\', 'a\\', true], // a trailing backslash is itself
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false], // RegExp characters are literal
    ['(x)+$', '(x)+$', true],
    ['a|b', 'a', false],
    ['line*', 'line1\nline2', true], // `*` crosses newlines
  ])('%s ~ %j: %s', (pattern, key, expected) => {
    expect(matches(pattern, key)).toBe(expected);
  });

  test('bytes: `?` is one byte, as in Redis (a two-byte UTF-8 character needs two)', () => {
    const m = (pattern: string, key: string): boolean => globMatcher([pattern])(Buffer.from(key, 'utf8'));
    expect(m('k?', 'ké')).toBe(false);
    expect(m('k??', 'ké')).toBe(true);
    expect(m('ké*', 'kéx')).toBe(true);
    expect(globMatcher([])(Buffer.from('anything'))).toBe(false);
    expect(globMatcher(['a*', 'b*'])(Buffer.from('b1'))).toBe(true);
  });
});

test('literalPrefix: the text every match starts with; escapeGlob makes text match only itself', () => {
  expect(literalPrefix('analytics:42:*')).toBe('analytics:42:');
  expect(literalPrefix('analytics*')).toBe('analytics');
  expect(literalPrefix('analytic?:*')).toBe('analytic');
  expect(literalPrefix('a\\*b*')).toBe('a*b');
  expect(literalPrefix('*')).toBe('');
  expect(literalPrefix('[a]x')).toBe('');
  const text = 'we*ird?[k]\\';
  expect(matches(escapeGlob(text), text)).toBe(true);
  expect(matches(escapeGlob(text), 'weXird?[k]\\')).toBe(false);
});

describe('cache-invalidate input', () => {
  const base = { service: 'reports', requestedBy: 'bob' };
  const errorOf = (input: unknown): string => {
    const r = runbookByName('cache-invalidate').parse(input);
    return r.ok ? 'ok' : r.error;
  };

  test('defaults', () => {
    expect(cacheInvalidateInputSchema.parse({ ...base, users: ['42'] })).toMatchObject({
      force: false,
      batchSize: 1000,
      ttlHygiene: false,
      hitRateCheck: false,
    });
  });

  test.each([
    [{ ...base }, '(input): nothing to do'],
    [{ ...base, pattern: '*' }, 'pattern: "*" starts with a glob character'],
    [{ ...base, pattern: '?nalytics:*' }, 'pattern: "?nalytics:*" starts with a glob character'],
    [{ ...base, pattern: '[a]nalytics:*' }, 'starts with a glob character'],
    [{ ...base, pattern: '' }, 'pattern: Too small'],
    [{ ...base, users: ['42*'] }, 'users[0]: must be a user id'],
    [{ ...base, users: ['4[2]'] }, 'users[0]: must be a user id'],
    [{ ...base, users: ['a b'] }, 'users[0]: must be a user id'],
    [{ ...base, users: [] }, 'users: Too small'],
    [{ ...base, users: ['42', '42'] }, 'users: must not name a user twice'],
    [{ ...base, users: ['42'], batchSize: 0 }, 'batchSize: Too small'],
    [{ ...base, users: ['42'], batchSize: 10_001 }, 'batchSize: Too big'],
    [{ ...base, users: ['42'], batchSize: 1.5 }, 'batchSize:'],
    [{ ...base, hitRateCheck: true, warnBelow: -0.1 }, 'warnBelow: Too small'],
    [{ ...base, hitRateCheck: true, actBelow: 1.5 }, 'actBelow: Too big'],
    [{ ...base, hitRateCheck: true, warnBelow: 0.5, actBelow: 0.6 }, 'warnBelow: must be at least actBelow (0.6)'],
    [{ ...base, users: ['42'], warnBelow: 0.5 }, 'warnBelow: applies to hitRateCheck: true only'],
    [{ ...base, users: ['42'], ttl: '1h' }, 'ttl: applies to ttlHygiene: true only'],
    [{ ...base, ttlHygiene: true, ttl: '40d' }, 'ttl: must be at most 30d'],
    [{ ...base, hitRateCheck: true, hitRateWindow: 'soon' }, 'hitRateWindow: must be a positive duration'],
    [{ ...base, service: 'Reports!', users: ['42'] }, 'service: must be a configured name'],
    [{ ...base, users: ['42'], extra: 1 }, 'Unrecognized key'],
  ])('refused: %j', (input, message) => {
    const error = errorOf(input);
    expect(error).toMatch(/^invalid cache-invalidate input: /);
    expect(error).toContain(message);
  });

  test.each([
    [{ ...base, users: ['42', 'user_7', 'A-b'] }],
    [{ ...base, pattern: 'analytics:42:*' }],
    [{ ...base, pattern: '*', force: true }],
    [{ ...base, ttlHygiene: true, ttl: '6h' }],
    [{ ...base, hitRateCheck: true, hitRateWindow: '5s', warnBelow: 0.9, actBelow: 0.9 }],
    [{ ...base, pattern: 'analytics:*', users: ['1'], ttlHygiene: true, hitRateCheck: true, batchSize: 10_000 }],
  ])('accepted: %j', (input) => {
    expect(errorOf(input)).toBe('ok');
  });
});

test('plan lines and hit-rate status', () => {
  expect(describePattern({ pattern: 'analytics:*', matched: 12_348, protected: 3 })).toBe(
    'unlink 12,345 keys matching "analytics:*" (3 protected, left alone)',
  );
  expect(describePattern({ pattern: 'analytics:42:*', matched: 1, protected: 0 })).toBe('unlink 1 key matching "analytics:42:*"');
  expect(hitRateStatus(0.85, 0.8, 0.7)).toBe('ok');
  expect(hitRateStatus(0.8, 0.8, 0.7)).toBe('ok');
  expect(hitRateStatus(0.75, 0.8, 0.7)).toBe('warn');
  expect(hitRateStatus(0.69, 0.8, 0.7)).toBe('act');
  expect(hitRateStatus(null, 0.8, 0.7)).toBe('no-lookups');
});

test('the warm command a low hit rate suggests is input cache-warm accepts', () => {
  const cmd = warmCommand('reports', 'bob', "hit rate 12.0% below 70.0% (bob's check)");
  expect(cmd).toBe(
    `echo '{"service":"reports","requestedBy":"bob","reason":"hit rate 12.0% below 70.0% (bob'\\''s check)"}' | npm run runbook -- start cache-warm --input -`,
  );
  // What a shell makes of the echo part is the JSON cache-warm reads from stdin.
  const json = JSON.parse(execFileSync('sh', ['-c', cmd.slice(0, cmd.indexOf(' | npm'))], { encoding: 'utf8' })) as unknown;
  expect(json).toEqual({ service: 'reports', requestedBy: 'bob', reason: "hit rate 12.0% below 70.0% (bob's check)" });
  expect(runbookByName('cache-warm').parse(json)).toMatchObject({ ok: true, target: 'reports', requestedBy: 'bob' });
});
