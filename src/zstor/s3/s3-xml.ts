import { fail } from '../../core/assert.ts';

/*
 * The little XML S3 speaks. Responses are built from escaped strings; the only request
 * bodies parsed are CompleteMultipartUpload and CreateBucketConfiguration, both flat, so a
 * strict scanner for those shapes is enough and refuses anything else (DOCTYPE, entities,
 * CDATA, processing instructions past the declaration) with MalformedXML.
 */

export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Escapes text for an element body; characters XML 1.0 cannot carry become U+FFFD. */
export function xmlEscape(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => ESCAPES[c]!)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd');
}

export type XmlChild = string | number | boolean | undefined | XmlNode | readonly XmlNode[];
export interface XmlNode {
  readonly [name: string]: XmlChild;
}

/** Renders `{Name: value | {…} | [{…}]}` as elements, in insertion order; undefined is left out. */
export function renderXml(node: XmlNode): string {
  let out = '';
  for (const [name, value] of Object.entries(node)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const item of value as readonly XmlNode[])
        out += `<${name}>${renderXml(item)}</${name}>`;
    } else if (typeof value === 'object') {
      out += `<${name}>${renderXml(value as XmlNode)}</${name}>`;
    } else out += `<${name}>${xmlEscape(String(value))}</${name}>`;
  }
  return out;
}

/** A whole S3 response document with its namespace. */
export function xmlDocument(root: string, body: XmlNode): string {
  return `${XML_DECLARATION}<${root} xmlns="${S3_NS}">${renderXml(body)}</${root}>`;
}

function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]{1,6}|#[0-9]{1,7});/g, (_, e: string) => {
    if (e === 'amp') return '&';
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    const cp = e.startsWith('#x') ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
    if (cp > 0x10ffff) fail('S3_MALFORMED_XML', `character reference &${e}; is out of range`);
    return String.fromCodePoint(cp);
  });
}

export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

/**
 * Parses a small XML document into elements (namespaces kept in names as written, attributes
 * ignored). Refuses DOCTYPE, CDATA, comments, unknown entities, mismatched tags.
 * @throws VdcError S3_MALFORMED_XML
 */
export function parseXml(source: string): XmlElement {
  const bad = (why: string): never => fail('S3_MALFORMED_XML', `the XML body is malformed: ${why}`);
  const text = source.replace(/^\ufeff/, '').replace(/^<\?xml[^?]*\?>/, '');
  if (/<!|<\?/.test(text)) bad('DOCTYPE, CDATA, comments and processing instructions are refused');
  const token =
    /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)/gy;
  const root: XmlElement = { name: '', children: [], text: '' };
  const stack: XmlElement[] = [root];
  let m: RegExpExecArray | null;
  let pos = 0;
  for (token.lastIndex = 0; pos < text.length; pos = token.lastIndex) {
    m = token.exec(text);
    if (m === null) bad(`unexpected character at offset ${pos}`);
    const top = stack[stack.length - 1]!;
    if (m![5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos|#x[0-9a-fA-F]{1,6}|#[0-9]{1,7});)/.test(m![5]))
        bad('an unknown entity');
      top.text += unescapeXml(m![5]);
    } else if (m![1] === '/') {
      if (top.name !== m![2] || stack.length === 1) bad(`unexpected </${m![2]}>`);
      stack.pop();
    } else {
      if (stack.length > 16) bad('nested too deep');
      const el: XmlElement = { name: m![2]!, children: [], text: '' };
      if (stack.length === 1 && root.children.length > 0) bad('more than one root element');
      top.children.push(el);
      if (m![4] !== '/') stack.push(el);
    }
  }
  if (stack.length !== 1) bad(`<${stack[stack.length - 1]!.name}> is not closed`);
  if (root.text.trim() !== '') bad('text outside the root element');
  const doc = root.children[0];
  if (doc === undefined) bad('no root element');
  return doc!;
}

/** The local name (without a prefix) of an element. */
export function localName(el: XmlElement): string {
  return el.name.includes(':') ? el.name.slice(el.name.indexOf(':') + 1) : el.name;
}
