import { convert } from 'html-to-text'
import { Parser } from 'htmlparser2'
import { SMART_ENCODING } from './smart-encoding.js'

/** Twilio refuses bodies longer than this. */
export const MAX_SMS_BODY = 1600

const HTML_OPTIONS = {
  wordwrap: false as const,
  selectors: [
    // A link shows its address: "our page (https://x.io/a)", or just the URL when that is the text.
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true, linkBrackets: ['(', ')'] as [string, string] } },
    { selector: 'img', format: 'skip' },
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'table', format: 'dataTable' },
  ],
}

// Every function here runs on text someone else wrote (a teammate, a customer, Intercom): each is
// linear in its input. No pattern may backtrack over a run it cannot bound, so a tag name is matched
// with a one-character lookahead, never with [^>]*.
const LOOKS_LIKE_HTML = /<\/?(?:p|br|div|span|a|b|i|em|strong|ul|ol|li|h[1-6]|img|blockquote|code|pre)(?=[\s/>])/i

/**
 * A conversation part's body as SMS text. Apps on Intercom API 2.14 and older get HTML, 2.15 and
 * newer plain text: HTML is converted with html-to-text (paragraphs and line breaks kept, links made
 * visible, entities decoded); plain text is kept as it is.
 */
export function partBodyToSms(body: string | null | undefined): string {
  if (!body) return ''
  // A NUL cannot be texted, and the embedded database would cut the text at it.
  const clean = body.includes('\u0000') ? body.replaceAll('\u0000', '') : body
  return tidyLines(looksLikeHtml(clean) ? htmlToText(clean) : clean)
}

/**
 * Whether a part's body is HTML (webhooks of apps on API 2.14 and older, and the REST API) rather
 * than the plain text webhooks of 2.15+ apps carry: it has one of the tags Intercom's composer writes.
 */
export function looksLikeHtml(body: string): boolean {
  return LOOKS_LIKE_HTML.test(body)
}

function htmlToText(html: string): string {
  try {
    return convert(html, HTML_OPTIONS)
  } catch (err) {
    // html-to-text walks the document recursively: nesting thousands deep overflows the stack.
    // The streaming reader below has no depth, and keeps the words and line breaks.
    if (err instanceof RangeError) return textOf(html)
    throw err
  }
}

const BLOCK_TAGS = new Set(['p', 'div', 'br', 'li', 'tr', 'blockquote', 'pre', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'table'])

/**
 * The words of an HTML fragment, entities decoded, a line break for each block, read by a
 * streaming parser (linear, no recursion). Text that is not HTML comes back as it is, but for
 * entities.
 */
export function textOf(html: string | null | undefined): string {
  if (!html) return ''
  const out: string[] = []
  const parser = new Parser(
    {
      ontext: (text) => void out.push(text),
      onopentag: (name) => void (BLOCK_TAGS.has(name) && out.push('\n')),
      onclosetag: (name) => void (BLOCK_TAGS.has(name) && name !== 'br' && out.push('\n')),
    },
    { decodeEntities: true },
  )
  parser.write(html)
  parser.end()
  return out.join('')
}

/** CRLF to LF, no spaces or tabs before a line break, at most one blank line, trimmed: in one pass. */
function tidyLines(text: string): string {
  const lines = text.split(/\r\n|\r|\n/)
  const out: string[] = []
  let blank = 0
  for (const line of lines) {
    let end = line.length
    while (end > 0 && (line.charCodeAt(end - 1) === 32 || line.charCodeAt(end - 1) === 9)) end--
    const kept = line.slice(0, end)
    blank = kept === '' ? blank + 1 : 0
    if (blank <= 1) out.push(kept)
  }
  return out.join('\n').trim()
}

/** Twilio sends at most 10 media in one MMS: the most pictures a text can carry. */
export const MAX_MEDIA_PER_TEXT = 10
/**
 * How much of a reply's HTML is searched for pictures. A text carries 1600 characters: a picture
 * after 100,000 characters of HTML would follow over 60 texts, and is not looked for.
 */
export const INLINE_IMAGES_SCAN_CHARS = 100_000

/**
 * The pictures a teammate put inside a reply's HTML body (Intercom inlines them as `<img src>`; files
 * and videos come as attachments instead), in order, each once, at most `max` (reading stops there).
 * Only http(s) addresses: anything else (data:, cid:) cannot be fetched by Twilio. Plain-text bodies
 * (API 2.15+) have none.
 */
export function inlineImages(body: string | null | undefined, max = MAX_MEDIA_PER_TEXT): string[] {
  if (!body || !body.includes('<')) return []
  const found = new Set<string>()
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        const src = name === 'img' ? attributes.src?.trim() : undefined
        if (src && /^https?:\/\//i.test(src)) found.add(src)
        if (found.size >= max) parser.pause()
      },
    },
    { decodeEntities: true },
  )
  parser.end(body.length > INLINE_IMAGES_SCAN_CHARS ? body.slice(0, INLINE_IMAGES_SCAN_CHARS) : body)
  return [...found]
}

/** Text made safe to put inside HTML: Intercom shows it as the characters it is, never as markup. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
}

// The GSM 03.38 default alphabet, and its extension table (each of those costs two units).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
)
const GSM_EXTENDED = new Set('^{}\\[~]|€\f')

export interface SegmentInfo {
  /** Code points (what a person counts: an emoji is one). */
  characters: number
  encoding: 'GSM-7' | 'UCS-2'
  /** Septets (GSM-7: an extension-table character is two) or UTF-16 code units (UCS-2: an emoji is two). */
  units: number
  segments: number
  /** Every distinct character GSM-7 cannot carry (what made it UCS-2), in order of first appearance. */
  forcedUcs2: string[]
}

/** How Twilio bills a body: 160/153 per segment in GSM-7, 70/67 in UCS-2 (one emoji switches it all). */
export function segmentInfo(text: string): SegmentInfo {
  let septets = 0
  let characters = 0
  const forced = new Set<string>()
  for (const ch of text) {
    characters += 1
    if (GSM_BASIC.has(ch)) septets += 1
    else if (GSM_EXTENDED.has(ch)) septets += 2
    else forced.add(ch)
  }
  const gsm = forced.size === 0
  const units = gsm ? septets : text.length
  const [single, multi] = gsm ? [160, 153] : [70, 67]
  const segments = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi)
  return { characters, encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments, forcedUcs2: [...forced] }
}

/**
 * The text as a Messaging Service with Twilio Smart Encoding would send it (see shared/smart-encoding.ts),
 * when that makes it GSM-7 and changes it; else null (already GSM-7, or an emoji or a script stays).
 */
export function smartEncoded(text: string): string | null {
  let out = ''
  for (const ch of text) out += SMART_ENCODING.get(ch) ?? ch
  return out !== text && segmentInfo(out).encoding === 'GSM-7' ? out : null
}

/**
 * Splits text longer than `max` into ordered pieces, each ending at a sentence end, else a line or
 * word boundary, else (one unbroken run longer than `max`) at `max`, never inside a surrogate pair.
 */
export function splitForSms(text: string, max = MAX_SMS_BODY): string[] {
  const pieces: string[] = []
  let rest = text.trim()
  while (rest.length > max) {
    const window = rest.slice(0, max + 1)
    const cut =
      lastMatch(window, /[.!?\u2026](?=\s)/g, 1) ??
      lastMatch(window, /\n/g, 0) ??
      lastMatch(window, /\s/g, 0) ??
      (/[\uD800-\uDBFF]/.test(rest[max - 1]!) ? max - 1 : max)
    pieces.push(rest.slice(0, cut).trimEnd())
    rest = rest.slice(cut).trimStart()
  }
  if (rest) pieces.push(rest)
  return pieces
}

/** The index just after the last match of `re` in `text`, within the first `text.length - 1` chars. */
function lastMatch(text: string, re: RegExp, keep: number): number | null {
  let at: number | null = null
  for (const m of text.matchAll(re)) {
    const end = m.index + keep
    if (end > 0 && end < text.length) at = end
  }
  return at
}
