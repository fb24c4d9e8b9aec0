import { createHmac } from 'node:crypto'
import { derivedKey, safeEqual } from '../../shared/signatures.js'
import type { Message } from '../../shared/db/messages.js'
import { extensionFor } from '../../shared/mime.js'
import type { Config } from '../config.js'

// The links through which Intercom fetches a text's pictures (never Twilio's own URLs, which need our
// credentials) and Twilio fetches a teammate's copied file: `/media/<token>/<name>`, the token signed
// and expiring, the name for the attachment.

/** Intercom takes at most 10 attachment URLs per part. */
export const MAX_ATTACHMENTS = 10
/** How long a media link works; Intercom fetches attachments when the part is posted. */
export const MEDIA_TTL_MS = 7 * 86_400_000

// Links are signed with a key derived from the Twilio auth token: nothing is stored, and a leaked
// link reveals nothing about the token.
function sign(config: Pick<Config, 'twilio'>, payload: string): string {
  return createHmac('sha256', derivedKey(config.twilio.authToken, 'media-links-v1')).update(payload).digest('base64url').slice(0, 32)
}

/** Whether `signature` signs `payload` and the expiry (seconds) in it is still ahead. */
function signedAndCurrent(
  config: Pick<Config, 'twilio'>,
  link: { payload: string; signature: string; expiresSeconds: string },
  now: number,
): boolean {
  return safeEqual(sign(config, link.payload), link.signature) && Number(link.expiresSeconds) * 1000 >= now
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
  now: number,
): { messageId: number; position: number } | null {
  const m = /^(\d{1,15})\.(\d{1,2})\.(\d{1,12})\.([\w-]{32})$/.exec(token)
  if (!m || !signedAndCurrent(config, { payload: `${m[1]}.${m[2]}.${m[3]}`, signature: m[4]!, expiresSeconds: m[3]! }, now)) return null
  return { messageId: Number(m[1]), position: Number(m[2]) }
}

/** Public URLs through which Intercom fetches a message's pictures (never Twilio's own URLs). */
export function mediaUrls(config: Pick<Config, 'twilio' | 'publicUrl'>, message: Pick<Message, 'id' | 'media' | 'created_at'>): string[] {
  const expiresAt = message.created_at + MEDIA_TTL_MS
  return message.media
    .slice(0, MAX_ATTACHMENTS)
    .map(
      (item, i) =>
        `${config.publicUrl}/media/${mediaToken(config, message.id, i, expiresAt)}/${mediaFileName(`picture-${i + 1}`, item.contentType)}`,
    )
}

/**
 * The last segment of a media link: Intercom names an attachment after it, and shows its type by
 * the extension, so a picture is "picture-1.jpg", not a token. A stored name keeps its own extension.
 */
export function mediaFileName(stem: string, contentType: string | null | undefined): string {
  const safe =
    stem
      .replace(/[^\w.-]/g, '_')
      .replace(/^[._]+/, '')
      .slice(0, 80) || 'file'
  if (/\.[a-z0-9]{2,5}$/i.test(safe)) return safe
  return `${safe}.${extensionFor(contentType)}`
}

/** A held file (a teammate's upload copied here): its token; see `heldMediaUrl`. */
export function heldMediaToken(config: Pick<Config, 'twilio'>, heldId: number, expiresAt: number): string {
  const payload = `h${heldId}.${Math.floor(expiresAt / 1000)}`
  return `${payload}.${sign(config, payload)}`
}

export function verifyHeldMediaToken(config: Pick<Config, 'twilio'>, token: string, now: number): number | null {
  const m = /^h(\d{1,15})\.(\d{1,12})\.([\w-]{32})$/.exec(token)
  if (!m || !signedAndCurrent(config, { payload: `h${m[1]}.${m[2]}`, signature: m[3]!, expiresSeconds: m[2]! }, now)) return null
  return Number(m[1])
}

/** The public link Twilio fetches a held file from; it works as long as the copy is kept. */
export function heldMediaUrl(
  config: Pick<Config, 'twilio' | 'publicUrl'>,
  held: { id: number; created_at: number; name?: string | null; content_type?: string | null },
): string {
  return `${config.publicUrl}/media/${heldMediaToken(config, held.id, held.created_at + MEDIA_TTL_MS)}/${mediaFileName(held.name ?? 'file', held.content_type)}`
}
