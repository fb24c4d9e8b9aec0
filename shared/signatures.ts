import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import twilio from 'twilio'

/** Compares two strings in constant time (for their length). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

const derived = new Map<string, Buffer>()

/**
 * A key of its own for one use (`purpose`), derived from a secret with HKDF and kept: whatever it
 * signs reveals nothing about the secret, and one use's key is useless for another.
 */
export function derivedKey(secret: string, purpose: string): Buffer {
  const id = `${purpose}\n${secret}`
  let key = derived.get(id)
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secret, 'intercom-sms-bridge', purpose, 32))
    derived.set(id, key)
  }
  return key
}

/** How a Twilio webhook is signed: with the account's auth token, or with a shared key (Webhooks API). */
export type TwilioScheme = 'auth_token' | 'shared_key'

/** The header naming a shared key and its algorithm, on webhooks Twilio signs with one. */
export const TWILIO_SIGNATURE_SETTINGS_HEADER = twilio.SIGNATURE_SETTINGS_HEADER.toLowerCase()

/**
 * Twilio's `X-Twilio-Signature`, over the full public URL followed by every POST parameter sorted by
 * name. Signed with the auth token (HMAC-SHA1), or, when the request carries
 * `X-Twilio-Webhooks-Signature-Settings: key=...,algorithm=HMAC_SHA256`, with one of the team's shared
 * keys (several during a rotation: any of them). The official helper does the work, so parameters
 * Twilio adds later are covered without a change here. `url` must be the public URL Twilio called,
 * not the one this process sees behind a TLS proxy. Says which scheme was checked, for the refusal.
 */
export function verifyTwilioSignature(
  secrets: { authToken: string; sharedKeys: readonly string[] },
  request: { signature: string | undefined; url: string; params: Record<string, unknown>; settings?: string | undefined },
): { ok: boolean; scheme: TwilioScheme } {
  const { signature, url, params, settings } = request
  if (settings === undefined)
    return { ok: Boolean(signature) && twilio.validateRequest(secrets.authToken, signature!, url, params), scheme: 'auth_token' }
  const algorithm = twilio.getSignatureAlgorithm(settings)
  const ok = Boolean(signature) && secrets.sharedKeys.some((key) => twilio.validateRequest(key, signature!, url, params, algorithm))
  return { ok, scheme: 'shared_key' }
}

/** Intercom webhooks: `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>`, key: client secret. */
export function verifyIntercomWebhook(clientSecret: string, rawBody: string | Buffer, header: string | undefined): boolean {
  if (!header?.startsWith('sha1=')) return false
  const expected = createHmac('sha1', clientSecret).update(rawBody).digest('hex')
  return safeEqual(header.slice('sha1='.length).toLowerCase(), expected)
}

/** Canvas Kit requests: `X-Body-Signature: <hex HMAC-SHA256 of the raw body>`, key: client secret. */
export function verifyCanvasSignature(clientSecret: string, rawBody: string | Buffer, header: string | undefined): boolean {
  if (!header) return false
  const expected = createHmac('sha256', clientSecret).update(rawBody).digest('hex')
  return safeEqual(header.toLowerCase(), expected)
}

/**
 * The bearer token a data connector `sms-bridge setup` made sends (its Authorization header), one per
 * connector: derived from the client secret, so there is no setting to keep, and a Fin token cannot
 * call the Workflows endpoint. A new client secret means running `setup` again.
 */
export function connectorToken(clientSecret: string, connector: 'workflows' | 'fin'): string {
  return derivedKey(clientSecret, `data-connector-token-v1:${connector}`).toString('base64url')
}
