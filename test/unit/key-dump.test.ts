// The Redis keys file (`redis-dump-keys/1`): names that are UTF-8 are written as `key` (as every file before
// had them), others as `keyB64`; both read back as the name's exact bytes.
import { keyField, keyLabel, keyOfLine } from '../../activities/backups/inventory';
import { parseKeyDump } from '../../activities/backups/restore';

const notUtf8 = Buffer.concat([Buffer.from('rbt:x:'), Buffer.from([0xff, 0xfe, 0x41])]);
const file = (...lines: object[]) => Buffer.from(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
const header = { format: 'redis-dump-keys/1', prefix: 'rbt:x:', target: 'reports-redis' };

test('an old-style line (`key` only) and a `keyB64` line read back as the names bytes', () => {
  const { prefix, entries } = parseKeyDump(
    file(
      header,
      { key: 'rbt:x:ключ:ü', pttl: 5000, dump: Buffer.from('payload-1').toString('base64') },
      { keyB64: notUtf8.toString('base64'), pttl: 0, dump: Buffer.from('payload-2').toString('base64') },
    ),
    'test.keys.jsonl',
  );
  expect(prefix).toBe('rbt:x:');
  expect(entries).toHaveLength(2);
  expect(entries[0]!.key.equals(Buffer.from('rbt:x:ключ:ü', 'utf8'))).toBe(true);
  expect(entries[0]).toMatchObject({ pttl: 5000, payload: Buffer.from('payload-1') });
  expect(entries[1]!.key.equals(notUtf8)).toBe(true);
  expect(entries[1]).toMatchObject({ pttl: 0, payload: Buffer.from('payload-2') });
});

test('a line with neither `key` nor `keyB64` fails naming the line', () => {
  expect(() => parseKeyDump(file(header, { pttl: 0, dump: 'AA==' }), 'x.jsonl')).toThrow('x.jsonl: line 2 has no key and dump');
});

test('the writer picks `key` for UTF-8 names and `keyB64` otherwise, and the reader inverts it', () => {
  const utf8 = Buffer.from('rbt:x:ключ:ü', 'utf8');
  expect(keyField(utf8)).toEqual({ key: 'rbt:x:ключ:ü' });
  expect(keyField(notUtf8)).toEqual({ keyB64: notUtf8.toString('base64') });
  // A lone surrogate half encoded as bytes (CESU-style) is not UTF-8 either: it would not survive a string.
  const surrogate = Buffer.from([0x61, 0xed, 0xa0, 0x80]);
  expect(keyField(surrogate)).toEqual({ keyB64: surrogate.toString('base64') });
  for (const k of [utf8, notUtf8, surrogate]) expect(keyOfLine(JSON.parse(JSON.stringify(keyField(k))) as Record<string, unknown>)!.equals(k)).toBe(true);
  expect(keyLabel(utf8)).toBe('rbt:x:ключ:ü');
  expect(keyLabel(notUtf8)).toBe(`base64:${notUtf8.toString('base64')} (not UTF-8)`);
});
