// Backup keys: relative, `/`-separated, plain characters; nothing that could leave the store or mean
// something else on a file system or in S3. Set ids and prefixes are built from checked parts.
import fc from 'fast-check';
import { checkKey, InvalidKeyError, manifestKey, setIdOf, setPrefix } from '../../activities/backups/contract';

test.each(['a', 'reports/20261126T031500Z-1a2b3c4d/manifest.json', 'a/b.c/d-e_f', '.hidden', 'a/..b/c..', 'ünïcode/ключ', 'x'.repeat(900)])(
  'accepts %j unchanged',
  (key) => {
    expect(checkKey(key)).toBe(key);
  },
);

test.each([
  ['empty', ''],
  ['too long', 'x'.repeat(901)],
  ['parent', '../x'],
  ['parent inside', 'a/../../x'],
  ['parent at the end', 'a/..'],
  ['current folder', 'a/./b'],
  ['absolute', '/abs'],
  ['double slash', 'a//b'],
  ['trailing slash', 'a/b/'],
  ['backslash', 'a\\b'],
  ['Windows parent', '..\\x'],
  ['newline', 'a\nb'],
  ['NUL', 'a\u0000b'],
  ['DEL', 'a\u007fb'],
])('refuses a key that is %s with InvalidKeyError', (_what, key) => {
  expect(() => checkKey(key)).toThrow(InvalidKeyError);
});

test('refuses what is not a string', () => {
  expect(() => checkKey(undefined as unknown as string)).toThrow(InvalidKeyError);
  expect(() => checkKey(42 as unknown as string)).toThrow(InvalidKeyError);
});

test('the error names the key, cut short, and why', () => {
  expect(() => checkKey('a/../b')).toThrow('backup key "a/../b" has an empty, "." or ".." segment: it could escape the store');
  const long = `/${'y'.repeat(500)}`;
  expect(() => checkKey(long)).toThrow(new RegExp(`^backup key "/y{199}" is not a relative path`));
});

test('no accepted key resolves outside the store', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'b', '.', '..', '', '/', '\\', '\u0000', '.x'), { maxLength: 8 }), (parts) => {
      const key = parts.join('');
      let accepted = true;
      try {
        checkKey(key);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidKeyError);
        accepted = false;
      }
      if (accepted) {
        const resolved = new URL(key, 'file:///store/').pathname;
        expect(resolved.startsWith('/store/')).toBe(true);
        expect(resolved).toBe(`/store/${key}`);
      }
    }),
  );
});

test('set prefixes and manifest keys are checked keys under the service', () => {
  const id = setIdOf(new Date('2026-11-26T03:15:00.123Z'), 'Run-1a2b3c4d-e5f6');
  expect(id).toBe('20261126T031500Z-run1a2b3');
  expect(setPrefix('reports', id)).toBe(`reports/${id}/`);
  expect(manifestKey('reports', id)).toBe(`reports/${id}/manifest.json`);
  expect(() => setPrefix('..', id)).toThrow(InvalidKeyError);
  expect(() => setPrefix('reports', '')).toThrow(InvalidKeyError);
});
