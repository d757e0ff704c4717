/**
 * A small, strict-enough XML reader for UPnP device descriptions and SOAP responses.
 *
 * It checks well-formedness (matching tags, quoted attributes, one root), resolves only the
 * five predefined entities and numeric character references, rejects DOCTYPE (no entity
 * expansion), and bounds input size, depth and element count. Namespace prefixes are kept
 * in `name` and stripped in `local`, which is what UPnP lookups match on.
 */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'

/** One element. */
export interface XmlElement {
  /** Qualified name as written, e.g. `s:Envelope`. */
  name: string
  /** Local name without prefix, e.g. `Envelope`. */
  local: string
  /** Attributes by qualified name. */
  attrs: Record<string, string>
  /** Child elements in document order. */
  children: XmlElement[]
  /** Concatenated character data directly inside this element (entities resolved). */
  text: string
}

/** Limits for {@link parseXml}. */
export interface XmlLimits {
  /** Largest input in characters. @default 262144 */
  maxChars?: number
  /** Deepest nesting. @default 32 */
  maxDepth?: number
  /** Most elements. @default 4096 */
  maxElements?: number
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.:-]*/
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

function fail (why: string, at: number): ToolkitError {
  return new ToolkitError(ErrorCode.Protocol, `malformed XML at offset ${at}: ${why}`)
}

function decodeEntities (raw: string, at: number): string {
  return raw.replace(/&([^;&\s]{1,10});/g, (_m, ref: string) => {
    if (ref.startsWith('#x') || ref.startsWith('#X')) {
      const cp = /^[0-9a-fA-F]{1,6}$/.test(ref.slice(2)) ? parseInt(ref.slice(2), 16) : NaN
      if (!Number.isInteger(cp) || cp > 0x10ffff) throw fail(`bad character reference &${ref};`, at)
      return String.fromCodePoint(cp)
    }
    if (ref.startsWith('#')) {
      const cp = /^[0-9]{1,7}$/.test(ref.slice(1)) ? parseInt(ref.slice(1), 10) : NaN
      if (!Number.isInteger(cp) || cp > 0x10ffff) throw fail(`bad character reference &${ref};`, at)
      return String.fromCodePoint(cp)
    }
    const v = ENTITIES[ref]
    if (v === undefined) throw fail(`unknown entity &${ref};`, at)
    return v
  })
}

function localName (name: string): string {
  const i = name.indexOf(':')
  return i === -1 ? name : name.slice(i + 1)
}

/** Parses a document and returns its root element. Throws ERR_PROTOCOL on malformed input. */
export function parseXml (input: string, limits: XmlLimits = {}): XmlElement {
  const maxChars = limits.maxChars ?? 256 * 1024
  const maxDepth = limits.maxDepth ?? 32
  const maxElements = limits.maxElements ?? 4096
  if (input.length > maxChars) throw fail(`document larger than ${maxChars} characters`, 0)
  let i = input.charCodeAt(0) === 0xfeff ? 1 : 0
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  let count = 0
  while (i < input.length) {
    const lt = input.indexOf('<', i)
    const textEnd = lt === -1 ? input.length : lt
    if (textEnd > i) {
      const raw = input.slice(i, textEnd)
      const top = stack[stack.length - 1]
      if (top === undefined) {
        if (raw.trim() !== '') throw fail('text outside the root element', i)
      } else {
        top.text += decodeEntities(raw, i)
      }
    }
    if (lt === -1) break
    i = lt
    if (input.startsWith('<?', i)) {
      const end = input.indexOf('?>', i + 2)
      if (end === -1) throw fail('unterminated processing instruction', i)
      i = end + 2
    } else if (input.startsWith('<!--', i)) {
      const end = input.indexOf('-->', i + 4)
      if (end === -1) throw fail('unterminated comment', i)
      i = end + 3
    } else if (input.startsWith('<![CDATA[', i)) {
      const end = input.indexOf(']]>', i + 9)
      if (end === -1) throw fail('unterminated CDATA', i)
      const top = stack[stack.length - 1]
      if (top === undefined) throw fail('CDATA outside the root element', i)
      top.text += input.slice(i + 9, end)
      i = end + 3
    } else if (input.startsWith('<!', i)) {
      throw fail('DOCTYPE and declarations are not accepted', i)
    } else if (input.startsWith('</', i)) {
      const m = NAME_RE.exec(input.slice(i + 2, i + 2 + 256))
      const name = m?.[0]
      const top = stack.pop()
      if (name === undefined || top === undefined || top.name !== name) throw fail(`unexpected closing tag ${name ?? ''}`, i)
      const close = input.indexOf('>', i + 2 + name.length)
      if (close === -1 || input.slice(i + 2 + name.length, close).trim() !== '') throw fail('bad closing tag', i)
      i = close + 1
    } else {
      i = openTag(input, i, stack, maxDepth, el => {
        if (++count > maxElements) throw fail(`more than ${maxElements} elements`, i)
        const parent = stack[stack.length - 1]
        if (parent !== undefined) parent.children.push(el)
        else if (root === undefined) root = el
        else throw fail('more than one root element', i)
      })
    }
  }
  if (stack.length > 0) throw fail(`unclosed element ${stack[stack.length - 1]?.name ?? ''}`, input.length)
  if (root === undefined) throw fail('no root element', 0)
  return root
}

function openTag (input: string, start: number, stack: XmlElement[], maxDepth: number, attach: (el: XmlElement) => void): number {
  const m = NAME_RE.exec(input.slice(start + 1, start + 1 + 256))
  const name = m?.[0]
  if (name === undefined) throw fail('bad tag name', start)
  const el: XmlElement = { name, local: localName(name), attrs: {}, children: [], text: '' }
  let i = start + 1 + name.length
  for (;;) {
    while (i < input.length && /\s/.test(input[i] ?? '')) i++
    if (input.startsWith('/>', i)) {
      attach(el)
      return i + 2
    }
    if (input[i] === '>') {
      attach(el)
      if (stack.length >= maxDepth) throw fail(`nesting deeper than ${maxDepth}`, start)
      stack.push(el)
      return i + 1
    }
    const am = /^([A-Za-z_][A-Za-z0-9_.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(input.slice(i, i + 4096))
    if (am === null) throw fail(`bad attribute in <${name}>`, i)
    const attrName = am[1] ?? ''
    if (attrName in el.attrs) throw fail(`duplicate attribute ${attrName}`, i)
    el.attrs[attrName] = decodeEntities(am[3] ?? am[4] ?? '', i)
    i += am[0].length
  }
}

/** First child element with the given local name. */
export function childOf (el: XmlElement | undefined, local: string): XmlElement | undefined {
  return el?.children.find(c => c.local === local)
}

/** All child elements with the given local name. */
export function childrenOf (el: XmlElement | undefined, local: string): XmlElement[] {
  return el?.children.filter(c => c.local === local) ?? []
}

/** Trimmed text of the first child with the given local name, or undefined. */
export function childText (el: XmlElement | undefined, local: string): string | undefined {
  const c = childOf(el, local)
  return c === undefined ? undefined : c.text.trim()
}

/** Escapes text for element content or attribute values. */
export function escapeXml (text: string): string {
  return text.replace(/[<>&"']/g, ch => `&${({ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' } as Record<string, string>)[ch] ?? ''};`)
}
