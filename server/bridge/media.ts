import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { mediaOf } from '../../shared/db/messages.js'
import type { Message } from '../../shared/db/schema.js'
import type { Config } from '../config.js'

/** Intercom takes at most 10 attachment URLs per part. */
export const MAX_ATTACHMENTS = 10
/** How long a media link works; Intercom fetches attachments when the part is posted. */
export const MEDIA_TTL_MS = 7 * 86_400_000

// A key of its own, derived from the Twilio auth token: links are signed, nothing is stored, and a
// leaked link reveals nothing about the token.
const keys = new Map<string, Buffer>()
function mediaKey(config: Pick<Config, 'twilio'>): Buffer {
  let key = keys.get(config.twilio.authToken)
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', config.twilio.authToken, 'intercom-sms-bridge', 'media-links-v1', 32))
    keys.set(config.twilio.authToken, key)
  }
  return key
}

function sign(config: Pick<Config, 'twilio'>, payload: string): string {
  return createHmac('sha256', mediaKey(config)).update(payload).digest('base64url').slice(0, 32)
}

/**
 * An unguessable, expiring link to one media item of a message. Deterministic for a message, so a
 * retried post sends the same URLs.
 */
export function mediaToken(config: Pick<Config, 'twilio'>, messageId: number, position: number, expiresAt: number): string {
  const payload = `${messageId}.${position}.${Math.floor(expiresAt / 1000)}`
  return `${payload}.${sign(config, payload)}`
}

export function verifyMediaToken(
  config: Pick<Config, 'twilio'>,
  token: string,
  now = Date.now(),
): { messageId: number; position: number } | null {
  const m = /^(\d{1,15})\.(\d{1,2})\.(\d{1,12})\.([\w-]{32})$/.exec(token)
  if (!m) return null
  const expected = Buffer.from(sign(config, `${m[1]}.${m[2]}.${m[3]}`))
  const given = Buffer.from(m[4]!)
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null
  if (Number(m[3]) * 1000 < now) return null
  return { messageId: Number(m[1]), position: Number(m[2]) }
}

/** Public URLs through which Intercom fetches a message's pictures (never Twilio's own URLs). */
export function mediaUrls(config: Pick<Config, 'twilio' | 'publicUrl'>, message: Pick<Message, 'id' | 'media' | 'created_at'>): string[] {
  const expiresAt = message.created_at + MEDIA_TTL_MS
  return mediaOf(message)
    .slice(0, MAX_ATTACHMENTS)
    .map((_, i) => `${config.publicUrl}/media/${mediaToken(config, message.id, i, expiresAt)}`)
}
