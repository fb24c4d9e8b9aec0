import { createHmac, timingSafeEqual } from 'node:crypto'
import twilio from 'twilio'

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 (key: auth token) over the full public URL followed
 * by every POST parameter sorted by name. The official helper does the work, so parameters Twilio adds
 * later are covered without a change here. `url` must be the public URL Twilio called, not the one
 * this process sees behind a TLS proxy.
 */
export function verifyTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Record<string, unknown>,
): boolean {
  if (!signature) return false
  return twilio.validateRequest(authToken, signature, url, params)
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
