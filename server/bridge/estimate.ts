import type { CountryCode } from 'libphonenumber-js'
import { UpstreamError } from '../../shared/errors.js'
import { notePriceFailure, savePrices, storedPrices, type StoredPrices } from '../../shared/db/prices.js'
import { countryOfNumber, senderNumberType, type SenderNumberType } from '../../shared/phone.js'
import { segmentInfo, smartEncoded } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'
import { chooseSender } from './senders.js'

export interface TextEstimate {
  /** Code points. */
  characters: number
  encoding: 'GSM-7' | 'UCS-2'
  /** Septets (GSM-7) or UTF-16 units (UCS-2). */
  units: number
  /** SMS: segments at 160/153 (GSM-7) or 70/67 (UCS-2). MMS: 1 (billed and delivered as one message). */
  segments: number
  /** Distinct characters GSM-7 cannot carry, in order of first appearance. */
  forcedUcs2: string[]
  /** The text with Twilio Smart Encoding's replacements, when that makes it GSM-7 and differs; else null. */
  smartEncoded: string | null
  /** mms when mediaCount > 0. */
  kind: 'sms' | 'mms'
  /** Null: unknown (Twilio unavailable and nothing kept, no price for the country or the sender, MMS). */
  price: { perText: string; unit: string; country: string } | null
  /** When Twilio gave the price (epoch ms), with every price: older than a day means a refresh failed. */
  priceAsOf?: number
}

/** Prices are read again after a day; after a failed read, not tried again for ten minutes. */
export const PRICES_FRESH_MS = 24 * 60 * 60 * 1000
export const PRICES_RETRY_MS = 10 * 60 * 1000
/**
 * How long an estimate waits for Twilio's prices: a Canvas Kit request has about 10 s in all (and the
 * SDK's own timeout is 10 s). A read still going on keeps the prices when it ends, for the next estimate.
 */
export const PRICES_WAIT_MS = 3_000

/**
 * What a text will be: characters, encoding, segments, what forced UCS-2 (and Smart Encoding's fix),
 * SMS or MMS, and its price to the destination's country from the sender `from` (default: the sender a
 * new text gets, see `senderFor`). Never fails for want of a price: the price is then null.
 */
export async function estimateText(
  deps: BridgeDeps,
  text: { phone: string; body: string; mediaCount: number; from?: string | null },
): Promise<TextEstimate> {
  const info = segmentInfo(text.body)
  const kind = text.mediaCount > 0 ? 'mms' : 'sms'
  const segments = kind === 'mms' ? 1 : info.segments
  const base = { ...info, segments, smartEncoded: smartEncoded(text.body), kind } as const
  // Twilio's Pricing API gives SMS prices only: an MMS has no price to show.
  const priced = kind === 'sms' ? await pricePerText(deps, text, segments) : null
  return priced ? { ...base, price: priced.price, priceAsOf: priced.asOf } : { ...base, price: null }
}

async function pricePerText(
  deps: BridgeDeps,
  text: { phone: string; from?: string | null },
  segments: number,
): Promise<{ price: NonNullable<TextEstimate['price']>; asOf: number } | null> {
  const country = await countryOfNumber(text.phone, deps.config.defaultCountry as CountryCode | undefined)
  const from = text.from ?? (await chooseSender(deps, { phone: text.phone, conversationNumber: null })).from
  // A Messaging Service picks its sender per text: priced as a long code, what its pool mostly holds.
  const type = from ? await senderNumberType(from) : 'long_code'
  if (!country || !type) return null
  const prices = await countryPrices(deps, country)
  const perSegment = prices?.priceUnit ? priceFor(prices.outbound, type) : undefined
  if (!prices?.priceUnit || perSegment === undefined) return null
  return { price: { perText: times(perSegment, segments), unit: prices.priceUnit, country }, asOf: prices.fetchedAt }
}

// Twilio's number types, compared without case, spaces or punctuation ("toll free", "shortcode").
const NUMBER_TYPES: Record<SenderNumberType, string[]> = {
  long_code: ['local', 'mobile', 'national'],
  toll_free: ['tollfree'],
  short_code: ['shortcode'],
}

function priceFor(outbound: Record<string, string>, type: SenderNumberType): string | undefined {
  const byType = new Map(Object.entries(outbound).map(([t, p]) => [t.toLowerCase().replace(/[^a-z]/g, ''), p]))
  return NUMBER_TYPES[type].map((t) => byType.get(t)).find((p) => p !== undefined)
}

/** A decimal string times a whole number, exactly ("0.0083" x 3 = "0.0249"). */
function times(decimal: string, n: number): string {
  const [whole, fraction = ''] = decimal.split('.')
  const product = (BigInt(`${whole}${fraction}`) * BigInt(n)).toString().padStart(fraction.length + 1, '0')
  return fraction.length ? `${product.slice(0, -fraction.length)}.${product.slice(-fraction.length)}` : product
}

/**
 * The country's prices: kept ones while under a day old (or while a failed read rests), else read
 * from Twilio and kept. When Twilio cannot answer, the last prices it gave (stale), or null.
 */
async function countryPrices(deps: BridgeDeps, country: string): Promise<StoredPrices | null> {
  const now = deps.clock.now()
  const kept = await storedPrices(deps.store.db, country)
  const known = kept && kept.fetchedAt > 0 ? kept : null
  const fresh = known !== null && now - known.fetchedAt < PRICES_FRESH_MS
  const resting = kept?.failedAt != null && now - kept.failedAt < PRICES_RETRY_MS
  if (fresh || resting) return known
  const read = readPrices(deps, country, now)
  const answer = await withinDeadline(deps, read)
  if (answer === 'late') {
    deps.log.warn({ country, waitedMs: PRICES_WAIT_MS }, 'SMS prices are slow to come; estimated without waiting')
    return known
  }
  return answer ?? known
}

/** Twilio's prices for the country, kept; null (a failure noted, the kept prices left) when it cannot answer. */
async function readPrices(deps: BridgeDeps, country: string, now: number): Promise<StoredPrices | null> {
  try {
    const answer = await deps.twilio.messagingPrices(country)
    await deps.store.run(savePrices(country, answer, deps.clock.now()))
    return { priceUnit: answer?.priceUnit ?? null, outbound: answer?.outbound ?? {}, fetchedAt: deps.clock.now(), failedAt: null }
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    deps.log.warn({ country, err: err.message }, 'could not read SMS prices')
    await deps.store.run(notePriceFailure(country, now))
    return null
  }
}

/** The read's answer, or 'late' after PRICES_WAIT_MS on the app's clock (the read goes on). */
function withinDeadline<T>(deps: BridgeDeps, read: Promise<T>): Promise<T | 'late'> {
  let timer: ReturnType<BridgeDeps['clock']['setTimeout']> | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = deps.clock.setTimeout(() => resolve('late'), PRICES_WAIT_MS)
  })
  // A read that fails after the deadline has already noted its failure: nothing is left to report.
  read.catch(() => undefined)
  return Promise.race([read, late]).finally(() => deps.clock.clear(timer))
}
