import { createHmac, randomInt } from 'node:crypto'
import { getConsent } from '../../shared/db/consent.js'
import { findPhoneContact } from '../../shared/db/contacts.js'
import { createOutboundMessage } from '../../shared/db/messages.js'
import { countTry, getVerification, insertVerification, markVerified, renewVerification } from '../../shared/db/verifications.js'
import { maskPhone } from '../../shared/log.js'
import { formatForReading } from '../../shared/phone.js'
import { derivedKey, safeEqual } from '../../shared/signatures.js'
import { segmentInfo } from '../../shared/text.js'
import { describeTwilioError } from '../../shared/twilio-errors.js'
import { UpstreamError, errorMessage } from '../../shared/errors.js'
import { capRefused, takeOutsiderBudget } from './caps.js'
import type { BridgeDeps } from './deps.js'
import { senderFor } from './outbound.js'

/**
 * A Messenger visitor proves they hold the number they typed before anything is linked or consented:
 * a 6-digit code is texted to it, kept only as a keyed hash, valid 10 minutes, 5 tries per code, at
 * most 3 codes a minute apart. Our own code rather than Twilio Verify: it goes through the same
 * senders, caps and status tracking as every other text, needs no second Twilio product or setting,
 * and is tested end to end against the same stand-in.
 */
export const CODE_TTL_MS = 10 * 60_000
export const MAX_TRIES = 5
export const MAX_SENDS = 3
export const RESEND_AFTER_MS = 60_000

export type VerifyResult<T> = ({ ok: true } & T) | { ok: false; error: string }

function hashCode(deps: Pick<BridgeDeps, 'config'>, contactId: string, phone: string, code: string): string {
  return createHmac('sha256', derivedKey(deps.config.intercom.clientSecret, 'verification-codes-v1')).update(`${contactId}\n${phone}\n${code}`).digest('hex')
}

const CANNOT_TEXT = 'We cannot text this number right now. Please try again tomorrow, or ask us in the chat.'

const newCode = () => String(randomInt(0, 1_000_000)).padStart(6, '0')

/** What may stop a code from being sent at all, before any text: said to the visitor in plain words. */
async function refusal(deps: BridgeDeps, contactId: string, phone: string): Promise<string | null> {
  const consent = await getConsent(deps.store.db, phone)
  // Only the phone itself (START) opts a number back in: never a form someone filled in.
  if (consent?.state === 'opted_out') return 'This number opted out of our texts. Text START to us from that phone first, then try again.'
  const link = await findPhoneContact(deps.store.db, phone)
  if (link && link.intercom_contact_id !== contactId) return 'This number cannot be used here. Please ask us in the chat.'
  return null
}

/** Texts the code from our usual sender; the stored text says a code was sent, never which. */
async function textCode(deps: BridgeDeps, contactId: string, phone: string, code: string): Promise<string | null> {
  const { from, recorded } = senderFor(null, deps.config)
  const body = `${code} is your verification code. It expires in 10 minutes. If you did not ask for it, ignore this text.`
  // The visitor waits for the answer: a code Twilio did not take is said at once, never retried later.
  const sent = await deps.twilio
    .send({ to: phone, from: from ? { number: from } : { messagingServiceSid: deps.config.twilio.messagingServiceSid! }, body, mediaUrls: [] })
    .catch((err: unknown) => ({ ok: false as const, code: err instanceof UpstreamError && typeof err.details.code === 'number' ? err.details.code : null, message: errorMessage(err) }))
  if (!sent.ok) {
    deps.log.warn({ code: sent.code, phone: maskPhone(phone) }, 'the verification code could not be texted')
    return `We could not text ${formatForReading(phone)}: ${describeTwilioError(sent.code, 'Twilio refused it')}`
  }
  await deps.store.write((trx) =>
    createOutboundMessage(trx, { contactId, phone, from: recorded, twilioSid: sent.sid, body: 'Verification code (the code itself is not kept)', numSegments: segmentInfo(body).segments, status: sent.status }),
  )
  return null
}

/** Starts proving `phone` for this visitor: a code is texted, unless a rule or a cap says no. */
export async function startVerification(deps: BridgeDeps, contactId: string, phone: string, now = Date.now()): Promise<VerifyResult<{ verificationId: number }>> {
  const refused = await refusal(deps, contactId, phone)
  if (refused) return { ok: false, error: refused }
  const code = newCode()
  const started = await deps.store.write(async (trx) => {
    const cap = await takeOutsiderBudget(trx, deps.config, { phone, contactId }, now)
    if (cap) return { cap, id: null }
    return { cap: null, id: await insertVerification(trx, { contactId, phone, codeHash: hashCode(deps, contactId, phone, code), expiresAt: now + CODE_TTL_MS }, now) }
  })
  if (started.cap) {
    capRefused(deps, 'verification', phone, started.cap)
    return { ok: false, error: CANNOT_TEXT }
  }
  const failed = await textCode(deps, contactId, phone, code)
  return failed ? { ok: false, error: failed } : { ok: true, verificationId: started.id! }
}

/** A new code for a verification under way: at most MAX_SENDS, a minute apart, within the caps. */
export async function resendCode(deps: BridgeDeps, contactId: string, verificationId: number, now = Date.now()): Promise<VerifyResult<{ phone: string }>> {
  const v = await getVerification(deps.store.db, verificationId)
  if (!v || v.intercom_contact_id !== contactId || v.verified_at) return { ok: false, error: 'Start again: enter your number.' }
  if (v.sends >= MAX_SENDS) return { ok: false, error: 'No more codes can be sent for this number now. Please ask us in the chat.' }
  if (now - v.last_sent_at < RESEND_AFTER_MS) return { ok: false, error: 'A code was just sent. Wait a minute before asking for another.' }
  const code = newCode()
  const cap = await deps.store.write(async (trx) => {
    const refusal = await takeOutsiderBudget(trx, deps.config, { phone: v.phone, contactId }, now)
    if (!refusal) await renewVerification(trx, v.id, hashCode(deps, contactId, v.phone, code), now + CODE_TTL_MS, now)
    return refusal
  })
  if (cap) {
    capRefused(deps, 'verification', v.phone, cap)
    return { ok: false, error: CANNOT_TEXT }
  }
  const failed = await textCode(deps, contactId, v.phone, code)
  return failed ? { ok: false, error: failed } : { ok: true, phone: v.phone }
}

/** Checks a typed code: the visitor holds the number once it matches, in time and within the tries. */
export async function checkCode(deps: BridgeDeps, contactId: string, verificationId: number, typed: string, now = Date.now()): Promise<VerifyResult<{ phone: string }>> {
  const code = typed.replace(/\s/g, '')
  return deps.store.write(async (trx) => {
    const v = await countTry(trx, verificationId)
    if (!v || v.intercom_contact_id !== contactId || v.verified_at) return { ok: false as const, error: 'Start again: enter your number.' }
    if (v.attempts >= MAX_TRIES) return { ok: false as const, error: 'Too many wrong codes. Ask for a new code.' }
    if (now > v.expires_at) return { ok: false as const, error: 'That code has expired. Ask for a new code.' }
    if (!safeEqual(v.code_hash, hashCode(deps, contactId, v.phone, /^\d{6}$/.test(code) ? code : 'x'))) {
      const left = MAX_TRIES - v.attempts - 1
      return { ok: false as const, error: left > 0 ? `That code is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.` : 'Too many wrong codes. Ask for a new code.' }
    }
    await markVerified(trx, v.id, now)
    return { ok: true as const, phone: v.phone }
  })
}

