import { segmentInfo } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'

// Contract A (the counter helper's full version, with Twilio's Pricing API and Smart Encoding,
// replaces this file at merge): the counts from shared/text.ts, no smart encoding, price unknown.

export interface TextEstimate {
  /** Code points. */
  characters: number
  encoding: 'GSM-7' | 'UCS-2'
  /** Septets (GSM-7) or UTF-16 units (UCS-2). */
  units: number
  segments: number
  /** Distinct characters GSM-7 cannot carry, in order of first appearance. */
  forcedUcs2: string[]
  /** The text with Twilio Smart Encoding's replacements, when that makes it GSM-7 and differs; else null. */
  smartEncoded: string | null
  /** mms when mediaCount > 0. */
  kind: 'sms' | 'mms'
  /** null: unknown (API unavailable, no price). */
  price: { perText: string; unit: string; country: string } | null
}

export async function estimateText(_deps: BridgeDeps, text: { phone: string; body: string; mediaCount: number }): Promise<TextEstimate> {
  const info = segmentInfo(text.body)
  const forced = new Set<string>()
  for (const ch of text.body) if (segmentInfo(ch).encoding === 'UCS-2') forced.add(ch)
  return {
    characters: [...text.body].length,
    encoding: info.encoding,
    units: info.units,
    segments: info.segments,
    forcedUcs2: [...forced],
    smartEncoded: null,
    kind: text.mediaCount > 0 ? 'mms' : 'sms',
    price: null,
  }
}
