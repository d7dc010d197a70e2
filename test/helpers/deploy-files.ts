/**
 * Readers for the deployment files' text, enough for test/deploy.test.ts: block-style YAML (maps, lists,
 * plain or quoted scalars, comments) and Dockerfile instructions. Not general parsers: the deploy files use
 * nothing more, and anything else they met would be a test failure rather than a silent misreading.
 */

/** A YAML value of the subset: every scalar stays a string (ports are compared as text). */
export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

interface Line { indent: number; text: string; number: number }

function stripComment(line: string): string {
  // The deploy files have no '#' inside quotes; a comment starts at a '#' at the start or after a blank.
  const at = line.search(/(^|\s)#/);
  return (at < 0 ? line : line.slice(0, at)).trimEnd();
}

function scalar(text: string): string {
  const t = text.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  if (/^[[{&*!|>]/.test(t)) throw new Error(`unsupported YAML scalar ${JSON.stringify(t)}`);
  return t;
}

const keyValue = /^([A-Za-z0-9_./-]+):(?:\s+(.*))?$/;

function parseBlock(lines: Line[], start: number, indent: number): [YamlValue, number] {
  const first = lines[start];
  if (!first) return [{}, start];
  if (first.text.startsWith('- ') || first.text === '-') {
    const list: YamlValue[] = [];
    let i = start;
    while (i < lines.length && lines[i].indent === indent && (lines[i].text.startsWith('- ') || lines[i].text === '-')) {
      const rest = lines[i].text.slice(1).trimStart();
      if (rest === '') {
        const [value, next] = parseBlock(lines, i + 1, lines[i + 1]?.indent ?? indent + 2);
        list.push(value);
        i = next;
      } else if (keyValue.test(rest)) {
        // "- key: value" opens a map whose keys sit two columns in.
        const inner = [{ indent: indent + 2, text: rest, number: lines[i].number }];
        let j = i + 1;
        while (j < lines.length && lines[j].indent > indent) inner.push(lines[j++]);
        list.push(parseBlock(inner, 0, indent + 2)[0]);
        i = j;
      } else {
        list.push(scalar(rest));
        i++;
      }
    }
    return [list, i];
  }
  const map: { [key: string]: YamlValue } = {};
  let i = start;
  while (i < lines.length && lines[i].indent === indent) {
    const m = keyValue.exec(lines[i].text);
    if (!m) throw new Error(`line ${lines[i].number}: expected "key: value", found ${JSON.stringify(lines[i].text)}`);
    if (m[2] !== undefined && m[2] !== '') {
      map[m[1]] = scalar(m[2]);
      i++;
    } else if (i + 1 < lines.length && lines[i + 1].indent > indent) {
      const [value, next] = parseBlock(lines, i + 1, lines[i + 1].indent);
      map[m[1]] = value;
      i = next;
    } else {
      map[m[1]] = '';
      i++;
    }
  }
  if (i < lines.length && lines[i].indent > indent) throw new Error(`line ${lines[i].number}: unexpected indentation`);
  return [map, i];
}

/** Parses one block-style YAML document. */
export function parseYaml(text: string): YamlValue {
  const lines: Line[] = [];
  text.split('\n').forEach((raw, n) => {
    if (raw.includes('\t')) throw new Error(`line ${n + 1}: tab in YAML`);
    const line = stripComment(raw);
    if (line.trim() === '' || line.trim() === '---') return;
    lines.push({ indent: line.length - line.trimStart().length, text: line.trim(), number: n + 1 });
  });
  const [value, next] = parseBlock(lines, 0, lines[0]?.indent ?? 0);
  if (next !== lines.length) throw new Error(`line ${lines[next].number}: not parsed`);
  return value;
}

/** One Dockerfile instruction: its keyword (upper case), its arguments, and the stage (FROM) it is in. */
export interface Instruction { keyword: string; args: string; stage: number }

/** Splits a Dockerfile into instructions: comments dropped, `\` continuations joined. */
export function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let stage = -1;
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.trimEnd();
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole === '') continue;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(whole);
    if (!m) throw new Error(`not an instruction: ${whole}`);
    const keyword = m[1].toUpperCase();
    if (keyword === 'FROM') stage++;
    out.push({ keyword, args: m[2].replace(/\s+/g, ' ').trim(), stage });
  }
  return out;
}
