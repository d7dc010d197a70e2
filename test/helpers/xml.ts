/**
 * A strict XML well-formedness check that also returns the element tree, for tests of generated SVG (no XML
 * parser is among the dependencies). It checks what an SVG writer can get wrong: one root element, every
 * tag closed in order, attribute names well formed, values quoted, no attribute twice on an element, no
 * raw `<` in text or values, and every `&` an entity or character reference. No DTDs (SVG output has none).
 */

/** An element: its name, attributes, children and the text directly inside it. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const name = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const reference = /&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);/g;
const entities: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  if (raw.includes('<')) throw new SyntaxError(`raw < in ${where}`);
  if (raw.replace(reference, '').includes('&')) throw new SyntaxError(`a bare & in ${where}: ${raw.slice(0, 80)}`);
  return raw.replace(reference, (ref) => {
    const body = ref.slice(1, -1);
    if (body.startsWith('#x')) return String.fromCodePoint(parseInt(body.slice(2), 16));
    if (body.startsWith('#')) return String.fromCodePoint(parseInt(body.slice(1), 10));
    const value = entities[body];
    if (value === undefined) throw new SyntaxError(`unknown entity &${body}; in ${where}`);
    return value;
  });
}

/** Parses `xml` strictly; throws a SyntaxError naming the first fault. */
export function parseXml(xml: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipSpace = (): void => {
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
  };
  while (i < xml.length) {
    if (xml.startsWith('<?', i) || xml.startsWith('<!--', i)) {
      const end = xml.indexOf(xml.startsWith('<?', i) ? '?>' : '-->', i);
      if (end < 0) throw new SyntaxError(`unterminated declaration or comment at ${i}`);
      i = end + (xml.startsWith('<?', i) ? 2 : 3);
    } else if (xml.startsWith('<!', i)) {
      throw new SyntaxError(`a DTD or CDATA section at ${i}, which this checker does not take`);
    } else if (xml.startsWith('</', i)) {
      i += 2;
      const closing = name.exec(xml.slice(i))?.[0];
      const open = stack.pop();
      if (!closing || !open || open.name !== closing) throw new SyntaxError(`</${closing}> at ${i} closes <${open?.name}>`);
      i += closing.length;
      skipSpace();
      if (xml[i] !== '>') throw new SyntaxError(`</${closing} not closed by > at ${i}`);
      i++;
    } else if (xml[i] === '<') {
      i++;
      const tag = name.exec(xml.slice(i))?.[0];
      if (!tag) throw new SyntaxError(`a tag without a name at ${i}`);
      i += tag.length;
      const element: XmlElement = { name: tag, attributes: {}, children: [], text: '' };
      for (;;) {
        const before = i;
        skipSpace();
        if (xml.startsWith('/>', i) || xml[i] === '>') break;
        if (i === before) throw new SyntaxError(`attributes of <${tag}> not separated by space at ${i}`);
        const attribute = name.exec(xml.slice(i))?.[0];
        if (!attribute) throw new SyntaxError(`a bad attribute name in <${tag}> at ${i}: ${xml.slice(i, i + 20)}`);
        i += attribute.length;
        if (xml[i] !== '=' || (xml[i + 1] !== '"' && xml[i + 1] !== "'")) throw new SyntaxError(`${attribute} of <${tag}> has no quoted value at ${i}`);
        const quote = xml[i + 1]!;
        const end = xml.indexOf(quote, i + 2);
        if (end < 0) throw new SyntaxError(`${attribute} of <${tag}>: unterminated value`);
        if (attribute in element.attributes) throw new SyntaxError(`<${tag}> has ${attribute} twice`);
        element.attributes[attribute] = decode(xml.slice(i + 2, end), `${attribute} of <${tag}>`);
        i = end + 1;
      }
      if (stack.length === 0) {
        if (root) throw new SyntaxError(`a second root element <${tag}>`);
        root = element;
      } else {
        stack[stack.length - 1]!.children.push(element);
      }
      if (xml[i] === '>') {
        stack.push(element);
        i++;
      } else {
        i += 2;
      }
    } else {
      const end = xml.indexOf('<', i);
      const text = xml.slice(i, end < 0 ? xml.length : end);
      if (stack.length === 0 && text.trim() !== '') throw new SyntaxError(`text outside the root element at ${i}`);
      if (stack.length > 0) stack[stack.length - 1]!.text += decode(text, `the text of <${stack[stack.length - 1]!.name}>`);
      i = end < 0 ? xml.length : end;
    }
  }
  if (stack.length > 0) throw new SyntaxError(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new SyntaxError('no root element');
  return root;
}

/** Every element in `root`'s tree (root first, depth first) for which `keep` holds. */
export function findAll(root: XmlElement, keep: (element: XmlElement) => boolean): XmlElement[] {
  const found: XmlElement[] = [];
  const walk = (element: XmlElement): void => {
    if (keep(element)) found.push(element);
    element.children.forEach(walk);
  };
  walk(root);
  return found;
}

/** All text inside `element`, its descendants' included. */
export function textOf(element: XmlElement): string {
  return element.text + element.children.map(textOf).join('');
}
