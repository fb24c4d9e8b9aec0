import { runIn } from '../../shared/db/statement.js'
import { createHmac, randomInt } from 'node:crypto'
import { getConsent } from '../../shared/db/consent.js'
import { findPhoneContact } from '../../shared/db/contacts.js'
import type { Executor } from '../../shared/db/database.js'
import { createOutboundMessage } from '../../shared/db/messages.js'
import { countTry, getVerification, insertVerification, markVerified, renewVerification } from '../../shared/db/verifications.js'
import { maskPhone } from '../../shared/log.js'
import { derivedKey, safeEqual } from '../../shared/signatures.js'
import { segmentInfo } from '../../shared/text.js'
import { UpstreamError, errorMessage } from '../../shared/errors.js'
import { budgetTaken, capRefused, takeOutsiderBudget, takeSubmitBudget, type BudgetTaken } from './caps.js'
import { recordTwilioOptOut } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { chooseSender } from './senders.js'

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

/**
 * Why a code was not texted, as the visitor may learn it: `could_not_text` stands for every reason
 * a number is refused (opted out, linked to someone else, a country or a cap, Twilio refused), so a
 * visitor learns nothing about a number they may not hold. The team gets the reason in the metric
 * and the log.
 */
export type CodeNotSent = { kind: 'refused'; reason: 'could_not_text' }
/** The code step is over (no such verification for this visitor, or expired): they type a number again. */
export type StartAgain = { kind: 'refused'; reason: 'start_again' | 'expired' }

export type StartOutcome = { kind: 'code_sent'; verificationId: number } | CodeNotSent
export type ResendOutcome =
  { kind: 'code_sent'; phone: string } | { kind: 'refused'; reason: 'sends_used_up' | 'too_soon'; phone: string } | StartAgain | CodeNotSent
export type CheckOutcome =
  | { kind: 'verified'; phone: string }
  | { kind: 'invalid'; field: 'code'; triesLeft: number; phone: string }
  | { kind: 'refused'; reason: 'too_many_tries'; phone: string }
  | StartAgain

function hashCode(deps: Pick<BridgeDeps, 'config'>, contactId: string, phone: string, code: string): string {
  return createHmac('sha256', derivedKey(deps.config.intercom.clientSecret, 'verification-codes-v1'))
    .update(`${contactId}\n${phone}\n${code}`)
    .digest('hex')
}

const newCode = () => String(randomInt(0, 1_000_000)).padStart(6, '0')

/**
 * Why a number may not be taken by this visitor, from its state: before a code is sent and again
 * when the subscription is recorded.
 */
export async function numberRefusal(db: Executor, contactId: string, phone: string): Promise<'opted_out' | 'linked_elsewhere' | null> {
  // Only the phone itself (START) opts a number back in: never a form someone filled in.
  if ((await getConsent(db, phone))?.state === 'opted_out') return 'opted_out'
  const link = await findPhoneContact(db, phone)
  return link && link.intercom_contact_id !== contactId ? 'linked_elsewhere' : null
}

/** What a transaction that may allow a code decided: refused for a reason, and what the budgets said. */
type CodeAllowed = { refused: string | null; taken?: BudgetTaken; id?: number }

/** Counts and logs a decision; true when a code may be texted. */
function allowed(deps: BridgeDeps, phone: string, decision: CodeAllowed, now: number): boolean {
  if (decision.taken) budgetTaken(deps, { kind: 'verification', phone, taken: decision.taken, now })
  else if (decision.refused) capRefused(deps, 'verification', phone, decision.refused)
  return !decision.refused
}

/** Texts the code from our usual sender; the stored text says a code was sent, never which. */
async function textCode(deps: BridgeDeps, contactId: string, phone: string, code: string): Promise<boolean> {
  const { from, recorded } = await chooseSender(deps, { phone, conversationNumber: null })
  const service = deps.config.twilio.messagingServiceSid
  const body = `${code} is your verification code. It expires in 10 minutes. If you did not ask for it, ignore this text.`
  // The visitor waits for the answer: a code Twilio did not take is said at once, never retried later.
  const sent = await deps.twilio
    .send({
      to: phone,
      from: service ? { messagingServiceSid: service, number: from } : { number: from! },
      body,
      mediaUrls: [],
    })
    .catch((err: unknown) => ({
      ok: false as const,
      code: err instanceof UpstreamError && typeof err.details.code === 'number' ? err.details.code : null,
      message: errorMessage(err),
    }))
  if (!sent.ok) {
    // Twilio's reason is the team's: a 21610 says the number opted out, which is nobody else's business.
    deps.log.warn({ code: sent.code, phone: maskPhone(phone) }, 'the verification code could not be texted')
    capRefused(deps, 'verification', phone, 'twilio_refused')
    await deps.store.transaction((trx) => recordTwilioOptOut(trx, { phone, code: sent.code, number: recorded }, deps.clock.now()))
    return false
  }
  await deps.store.transaction((trx) =>
    createOutboundMessage(trx, {
      contactId,
      phone,
      from: recorded,
      twilioSid: sent.sid,
      body: 'Verification code (the code itself is not kept)',
      numSegments: segmentInfo(body).segments,
      status: sent.status,
    }),
  )
  return true
}

/**
 * Starts proving `phone` for this visitor: a code is texted, unless a rule or a cap says no. The try
 * is paid for (the contact's submits a day) before the number's state is read, in one transaction.
 */
export async function startVerification(deps: BridgeDeps, contactId: string, phone: string): Promise<StartOutcome> {
  const now = deps.clock.now()
  const code = newCode()
  const decision = await deps.store.transaction(async (trx): Promise<CodeAllowed> => {
    if (!(await takeSubmitBudget(trx, deps.config, contactId, now))) return { refused: 'submit_cap' }
    const state = await numberRefusal(trx, contactId, phone)
    if (state) return { refused: state }
    const taken = await takeOutsiderBudget(trx, deps.config, { kind: 'verification', phone, contactId }, now)
    if (taken.refusal) return { refused: taken.refusal.reason, taken }
    return {
      refused: null,
      taken,
      id: await insertVerification(
        trx,
        { contactId, phone, codeHash: hashCode(deps, contactId, phone, code), expiresAt: now + CODE_TTL_MS },
        now,
      ),
    }
  })
  if (!allowed(deps, phone, decision, now) || !(await textCode(deps, contactId, phone, code)))
    return { kind: 'refused', reason: 'could_not_text' }
  return { kind: 'code_sent', verificationId: decision.id! }
}

/**
 * A new code for a verification under way: while its code is still valid, at most MAX_SENDS, a
 * minute apart, within the caps, and refused as the first send would be (an opt-out or a link to
 * someone else since). An expired code means starting again, with a submit that costs.
 */
export async function resendCode(deps: BridgeDeps, contactId: string, verificationId: number): Promise<ResendOutcome> {
  const now = deps.clock.now()
  const v = await getVerification(deps.store.db, verificationId)
  if (!v || v.intercom_contact_id !== contactId || v.verified_at) return { kind: 'refused', reason: 'start_again' }
  if (now > v.expires_at) return { kind: 'refused', reason: 'expired' }
  if (v.sends >= MAX_SENDS) return { kind: 'refused', reason: 'sends_used_up', phone: v.phone }
  if (now - v.last_sent_at < RESEND_AFTER_MS) return { kind: 'refused', reason: 'too_soon', phone: v.phone }
  const code = newCode()
  const decision = await deps.store.transaction(async (trx): Promise<CodeAllowed> => {
    const state = await numberRefusal(trx, contactId, v.phone)
    if (state) return { refused: state }
    const taken = await takeOutsiderBudget(trx, deps.config, { kind: 'verification', phone: v.phone, contactId }, now)
    if (taken.refusal) return { refused: taken.refusal.reason, taken }
    await runIn(trx, renewVerification(v.id, hashCode(deps, contactId, v.phone, code), now + CODE_TTL_MS, now))
    return { refused: null, taken }
  })
  if (!allowed(deps, v.phone, decision, now) || !(await textCode(deps, contactId, v.phone, code)))
    return { kind: 'refused', reason: 'could_not_text' }
  return { kind: 'code_sent', phone: v.phone }
}

/** Checks a typed code: the visitor holds the number once it matches, in time and within the tries. */
export async function checkCode(deps: BridgeDeps, contactId: string, verificationId: number, typed: string): Promise<CheckOutcome> {
  const code = typed.replace(/\s/g, '')
  const now = deps.clock.now()
  return deps.store.transaction(async (trx): Promise<CheckOutcome> => {
    const v = await countTry(trx, verificationId)
    if (!v || v.intercom_contact_id !== contactId || v.verified_at) return { kind: 'refused', reason: 'start_again' }
    if (v.attempts >= MAX_TRIES) return { kind: 'refused', reason: 'too_many_tries', phone: v.phone }
    if (now > v.expires_at) return { kind: 'refused', reason: 'expired' }
    if (!safeEqual(v.code_hash, hashCode(deps, contactId, v.phone, /^\d{6}$/.test(code) ? code : 'x'))) {
      const left = MAX_TRIES - v.attempts - 1
      return left > 0
        ? { kind: 'invalid', field: 'code', triesLeft: left, phone: v.phone }
        : { kind: 'refused', reason: 'too_many_tries', phone: v.phone }
    }
    await markVerified(trx, v.id, now)
    return { kind: 'verified', phone: v.phone }
  })
}
