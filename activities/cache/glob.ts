// Redis glob patterns (SCAN MATCH, KEYS) in JavaScript, following Redis's own matcher (util.c
// stringmatchlen): `*` any run of bytes, `?` one byte, `[abc]` `[a-z]` `[^a]` classes (a reversed range is
// swapped, `\` escapes inside too, an unclosed class runs to the end of the pattern, `[]` matches nothing),
// `\x` the byte x, a trailing `\` itself. Redis matches bytes: match keys read as latin1 strings (one char
// per byte) against a pattern compiled with `{ bytes: true }`, and multi-byte characters match as Redis does.

const reEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One character as a RegExp class member (always escaped: no character is special then). */
const member = (c: string): string => reEscape(c);

/** A RegExp anchored at both ends that matches exactly what Redis's matcher matches. */
export function globToRegExp(pattern: string, opts: { bytes?: boolean } = {}): RegExp {
  const p = opts.bytes ? Buffer.from(pattern, 'utf8').toString('latin1') : pattern;
  let out = '';
  let i = 0;
  while (i < p.length) {
    const c = p[i]!;
    if (c === '*') {
      // Consecutive stars are one star (Redis skips them too); fewer stars, less backtracking.
      while (p[i + 1] === '*') i++;
      out += '[\\s\\S]*';
    } else if (c === '?') {
      out += '[\\s\\S]';
    } else if (c === '[') {
      i++;
      const not = p[i] === '^';
      if (not) i++;
      const parts: string[] = [];
      for (;;) {
        if (p[i] === '\\' && i + 1 < p.length) {
          i++;
          parts.push(member(p[i]!));
        } else if (p[i] === ']') {
          break;
        } else if (i >= p.length) {
          // Unclosed: the class took the rest of the pattern.
          break;
        } else if (i + 2 < p.length && p[i + 1] === '-') {
          let a = p[i]!;
          let b = p[i + 2]!;
          if (a > b) [a, b] = [b, a];
          parts.push(`${member(a)}-${member(b)}`);
          i += 2;
        } else {
          parts.push(member(p[i]!));
        }
        i++;
      }
      if (parts.length) out += `[${not ? '^' : ''}${parts.join('')}]`;
      else out += not ? '[\\s\\S]' : '(?!)';
    } else if (c === '\\' && i + 1 < p.length) {
      i++;
      out += reEscape(p[i]!);
    } else {
      out += reEscape(c);
    }
    i++;
  }
  return new RegExp(`^${out}$`);
}

/** Tests keys (as Buffers, exactly as SCAN returns them) against Redis glob patterns. */
export function globMatcher(patterns: readonly string[]): (key: Buffer) => boolean {
  const res = patterns.map((p) => globToRegExp(p, { bytes: true }));
  return (key) => {
    if (!res.length) return false;
    const s = key.toString('latin1');
    return res.some((re) => re.test(s));
  };
}

/** The literal text every key matching `pattern` starts with (up to its first unescaped `*`, `?` or `[`). */
export function literalPrefix(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' || c === '?' || c === '[') break;
    if (c === '\\' && i + 1 < pattern.length) out += pattern[++i];
    else out += c;
  }
  return out;
}

/** `text` as a glob matching only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
