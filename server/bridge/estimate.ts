import { segmentInfo } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'

// Contract A's interface, answered from shared/text.ts alone until the counter helper's file (with
// Twilio's Pricing API and Smart Encoding) replaces this one.

export interface TextEstimate {
  characters: number
  encoding: 'GSM-7' | 'UCS-2'
  units: number
  segments: number
  forcedUcs2: string[]
  smartEncoded: string | null
  kind: 'sms' | 'mms'
  price: { perText: string; unit: string; country: string } | null
}

/** The characters GSM-7 cannot carry, each once, in order of first appearance. */
function forcedUcs2Of(body: string): string[] {
  const seen: string[] = []
  for (const ch of body) if (segmentInfo(ch).encoding === 'UCS-2' && !seen.includes(ch)) seen.push(ch)
  return seen
}

export async function estimateText(_deps: BridgeDeps, text: { phone: string; body: string; mediaCount: number }): Promise<TextEstimate> {
  const info = segmentInfo(text.body)
  return {
    characters: [...text.body].length,
    encoding: info.encoding,
    units: info.units,
    segments: info.segments,
    forcedUcs2: info.encoding === 'UCS-2' ? forcedUcs2Of(text.body) : [],
    smartEncoded: null,
    kind: text.mediaCount > 0 ? 'mms' : 'sms',
    price: null,
  }
}
