import { parsePhoneNumberFromString, type CountryCode, type PhoneNumber } from 'libphonenumber-js'

const REGION_NAMES = new Intl.DisplayNames(['en'], { type: 'region' })

/** A country as people read it, with its code for settings: "Guernsey (GG)". */
export function countryName(code: string): string {
  let name: string | undefined
  try {
    name = REGION_NAMES.of(code)
  } catch {
    name = undefined // not a region code at all
  }
  return name && name !== code ? `${name} (${code})` : code
}

export type SenderKind = 'e164' | 'short_code' | 'alphanumeric'

export interface NormalizedSender {
  /** E.164 for phone numbers; short codes and alphanumeric senders exactly as received. */
  value: string
  kind: SenderKind
}

/**
 * Normalises a sender address from Twilio or a person to E.164. Short codes and alphanumeric sender
 * ids cannot be normalised and are kept as they are; nothing here throws. `null` means the text is
 * not a usable address at all (empty, or digits that cannot be a phone number).
 */
export function normalizeSender(raw: string, defaultCountry?: CountryCode): NormalizedSender | null {
  // Parsing is the costly part of an inbound webhook, and the same few numbers text again and again.
  const key = `${defaultCountry ?? ''} ${raw}`
  const known = senders.get(key)
  if (known !== undefined) return known
  if (senders.size >= SENDER_CACHE_SIZE) senders.clear()
  const sender = parseSender(raw, defaultCountry)
  senders.set(key, sender)
  return sender
}

const SENDER_CACHE_SIZE = 5_000
const senders = new Map<string, NormalizedSender | null>()

function parseSender(raw: string, defaultCountry?: CountryCode): NormalizedSender | null {
  const text = raw.trim()
  if (text === '') return null
  if (/[a-z]/i.test(text.replace(/^(tel:|sms:)/i, '').replace(/\s*(ext\.?|x)\s*\d+$/i, ''))) {
    return { value: text, kind: 'alphanumeric' }
  }
  const digits = text.replace(/\D/g, '')
  if (!text.startsWith('+') && digits.length >= 3 && digits.length <= 6) return { value: digits, kind: 'short_code' }
  const parsed = parsePhone(text, defaultCountry)
  return parsed ? { value: parsed.number, kind: 'e164' } : null
}

/** E.164 for a number typed by a person or stored by someone else, or null when it is not possible. */
export function toE164(raw: string, defaultCountry?: CountryCode): string | null {
  return parsePhone(raw.trim(), defaultCountry)?.number ?? null
}

function parsePhone(text: string, defaultCountry?: CountryCode): PhoneNumber | undefined {
  const attempts = [parsePhoneNumberFromString(text, defaultCountry)]
  // "14155550100" or "447700900123": a number stored without its plus sign.
  if (!text.startsWith('+') && /^\d{8,15}$/.test(text.replace(/[\s().-]/g, ''))) {
    attempts.push(parsePhoneNumberFromString(`+${text.replace(/\D/g, '')}`))
  }
  return attempts.find((p) => p?.isPossible())
}

/**
 * The forms a person or an import may have stored this number in on an Intercom contact, for a search
 * that finds them all: E.164, without the plus, national (formatted and digits only) and
 * international formatted.
 */
export function phoneSearchVariants(e164: string): string[] {
  const parsed = parsePhoneNumberFromString(e164)
  if (!parsed) return [e164]
  const national = parsed.formatNational()
  return [
    ...new Set([
      parsed.number,
      parsed.number.slice(1),
      parsed.formatInternational(),
      national,
      national.replace(/\D/g, ''),
      parsed.nationalNumber,
    ]),
  ]
}

/** For people: "+1 415 555 0100". Short codes and sender ids as they are. */
export function formatForReading(value: string): string {
  return parsePhoneNumberFromString(value)?.formatInternational() ?? value
}

/**
 * Whether a number can plausibly receive texts: a valid mobile number, or one its country does not
 * tell apart from landlines (US and Canada). Uses the full metadata, which knows number types.
 */
export async function isTextableNumber(e164: string): Promise<boolean> {
  const { parsePhoneNumberFromString: parseMax } = await import('libphonenumber-js/max')
  const parsed = parseMax(e164)
  if (!parsed?.isValid()) return false
  const type = parsed.getType()
  return type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE'
}

/** What is wrong with a number a person typed. */
export type TypedNumberProblem = 'unparsable' | 'not_mobile'

/**
 * A number typed into a form (the sidebar's "Save number", the Messenger card): E.164 when a text
 * can reach it, else what is wrong with it. At most 64 characters are read.
 */
export async function readTypedNumber(
  typed: string,
  defaultCountry?: CountryCode,
): Promise<{ phone: string } | { problem: TypedNumberProblem }> {
  const phone = toE164(typed.slice(0, 64), defaultCountry)
  if (!phone) return { problem: 'unparsable' }
  return (await isTextableNumber(phone)) ? { phone } : { problem: 'not_mobile' }
}

/** What kind of number a text is sent from, as Twilio prices it; null for a sender SMS prices do not cover (WhatsApp). */
export type SenderNumberType = 'long_code' | 'toll_free' | 'short_code'

/**
 * The kind of our sending number: a short code (3 to 6 digits, no +), a toll-free number (by the full
 * metadata, which knows number types), else a long code (local or mobile, as the country has them).
 */
export async function senderNumberType(from: string): Promise<SenderNumberType | null> {
  if (from.includes(':')) return null
  if (/^\d{3,6}$/.test(from)) return 'short_code'
  const { parsePhoneNumberFromString: parseMax } = await import('libphonenumber-js/max')
  return parseMax(from)?.getType() === 'TOLL_FREE' ? 'toll_free' : 'long_code'
}

/**
 * The country a number belongs to, for its price: by the full metadata; a number its calling code
 * shares between countries and no range pins down (+44 7700 900...) counts as the code's main country.
 */
export async function countryOfNumber(phone: string, defaultCountry?: CountryCode): Promise<CountryCode | null> {
  const { parsePhoneNumberFromString: parseMax } = await import('libphonenumber-js/max')
  const parsed = parseMax(phone, defaultCountry)
  return parsed?.country ?? parsed?.getPossibleCountries()[0] ?? null
}
