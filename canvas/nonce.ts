import { createHmac, randomBytes } from 'node:crypto'
import { derivedKey, safeEqual } from '../shared/signatures.js'

/**
 * How long a canvas may wait before its submit is refused as out of date. A teammate leaves a
 * sidebar open for hours and over a weekend; a Messenger card can sit in a conversation for days,
 * and its visitor then refreshes (a code sent from it lives 10 minutes anyway). A week covers both;
 * the receipts that refuse a second use are kept far longer (maintenance.ts), so within its week a
 * nonce works once, and after it never.
 */
export const NONCE_MAX_AGE_MS = 7 * 24 * 3_600_000
/** Another machine's clock may run a little ahead of ours. */
const CLOCK_SKEW_MS = 5 * 60_000

const SHAPE = /^([0-9a-z]{1,11})\.([\w-]{12})\.([\w-]{22})$/

function mac(secret: string, issued: string, random: string): string {
  return createHmac('sha256', derivedKey(secret, 'canvas-nonces-v1')).update(`${issued}.${random}`).digest('base64url').slice(0, 22)
}

/** A nonce that says when it was issued, signed with a key derived from the client secret. */
export function issueNonce(secret: string, now: number): string {
  const issued = now.toString(36)
  const random = randomBytes(9).toString('base64url')
  return `${issued}.${random}.${mac(secret, issued, random)}`
}

/** Whether a submit's nonce is ours and young enough to be used (once: the receipt table says that). */
export function nonceIsFresh(secret: string, nonce: unknown, now: number): nonce is string {
  const parts = typeof nonce === 'string' ? SHAPE.exec(nonce) : null
  if (!parts || !safeEqual(parts[3]!, mac(secret, parts[1]!, parts[2]!))) return false
  const issuedAt = parseInt(parts[1]!, 36)
  return issuedAt <= now + CLOCK_SKEW_MS && now - issuedAt <= NONCE_MAX_AGE_MS
}
