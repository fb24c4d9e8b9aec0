import { convert } from 'html-to-text'
import { Parser } from 'htmlparser2'

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

const LOOKS_LIKE_HTML = /<\/?(p|br|div|span|a|b|i|em|strong|ul|ol|li|h[1-6]|img|blockquote|code|pre)\b[^>]*>/i

/**
 * A conversation part's body as SMS text. Apps on Intercom API 2.14 and older get HTML, 2.15 and
 * newer plain text: HTML is converted with html-to-text (paragraphs and line breaks kept, links made
 * visible, entities decoded); plain text is kept as it is.
 */
export function partBodyToSms(body: string | null | undefined): string {
  if (!body) return ''
  const text = LOOKS_LIKE_HTML.test(body) ? convert(body, HTML_OPTIONS) : body
  return text.replace(/\r\n?/g, '\n').replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim()
}

/**
 * The pictures a teammate put inside a reply's HTML body (Intercom inlines them as `<img src>`; files
 * and videos come as attachments instead), in order, each once. Only http(s) addresses: anything else
 * (data:, cid:) cannot be fetched by Twilio. Plain-text bodies (API 2.15+) have none.
 */
export function inlineImages(body: string | null | undefined): string[] {
  if (!body || !body.includes('<')) return []
  const found: string[] = []
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        const src = name === 'img' ? attributes.src?.trim() : undefined
        if (src && /^https?:\/\//i.test(src) && !found.includes(src)) found.push(src)
      },
    },
    { decodeEntities: true },
  )
  parser.write(body)
  parser.end()
  return found
}

// The GSM 03.38 default alphabet, and its extension table (each of those costs two units).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
)
const GSM_EXTENDED = new Set('^{}\\[~]|€\f')

export interface SegmentInfo {
  encoding: 'GSM-7' | 'UCS-2'
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number
  segments: number
}

/** How Twilio bills a body: 160/153 per segment in GSM-7, 70/67 in UCS-2 (one emoji switches it all). */
export function segmentInfo(text: string): SegmentInfo {
  let septets = 0
  let gsm = true
  for (const ch of text) {
    if (GSM_BASIC.has(ch)) septets += 1
    else if (GSM_EXTENDED.has(ch)) septets += 2
    else {
      gsm = false
      break
    }
  }
  const units = gsm ? septets : text.length
  const [single, multi] = gsm ? [160, 153] : [70, 67]
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments: units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi) }
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
      lastMatch(window, /[.!?…](?=\s)/g, 1) ??
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
