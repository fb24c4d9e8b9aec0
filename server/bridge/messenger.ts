import { runIn } from '../../shared/db/statement.js'
import { linkPhoneContact } from '../../shared/db/contacts.js'
import { setConsent } from '../../shared/db/consent.js'
import { readTypedNumber, type TypedNumberProblem } from '../../shared/phone.js'
import { requestAutomated, sendKeys } from './automated.js'
import type { BridgeDeps } from './deps.js'
import { savePhoneLater } from './sidebar.js'
import { checkCode, numberRefusal, startVerification, type CheckOutcome, type CodeNotSent } from './verification.js'

/**
 * What the Messenger card ("continue by SMS", Canvas Kit, `canvas/messenger.ts`) does for a visitor:
 * everything the visitor types is an outsider's input, so a number is proved with a texted code
 * before anything is linked, consented or sent (see verification.ts). One function per button
 * ("Send a new code" is verification.ts `resendCode`); each returns an outcome, and the card's views
 * say it in words.
 */

export type SubscribeOutcome =
  | { kind: 'code_sent'; phone: string; verificationId: number }
  /** Every field that is wrong, at once. */
  | { kind: 'invalid'; fields: { phone?: TypedNumberProblem; consent?: 'not_agreed' } }
  | CodeNotSent

/** After a code matched, the subscription may still be refused: the number's state changed meanwhile. */
export type ConfirmOutcome =
  | Exclude<CheckOutcome, { kind: 'verified' }>
  | { kind: 'subscribed'; phone: string }
  | { kind: 'refused'; reason: 'opted_out' | 'linked_elsewhere' }

/**
 * "Text me": a number and agreement to texts, checked, then a code texted to the number (nothing
 * is linked or recorded until the visitor proves they hold it).
 */
export async function subscribeFromMessenger(
  deps: BridgeDeps,
  contactId: string,
  typed: string,
  agreed: boolean,
): Promise<SubscribeOutcome> {
  const number = await readTypedNumber(typed, deps.config.defaultCountry)
  if ('problem' in number || !agreed) {
    return {
      kind: 'invalid',
      fields: { ...('problem' in number ? { phone: number.problem } : {}), ...(agreed ? {} : { consent: 'not_agreed' as const }) },
    }
  }
  const started = await startVerification(deps, contactId, number.phone)
  return started.kind === 'code_sent' ? { kind: 'code_sent', phone: number.phone, verificationId: started.verificationId } : started
}

/** "Confirm": the typed code checked, and once it matches, the subscription recorded. */
export async function confirmFromMessenger(
  deps: BridgeDeps,
  contactId: string,
  verificationId: number,
  typed: string,
): Promise<ConfirmOutcome> {
  const checked = await checkCode(deps, contactId, verificationId, typed)
  return checked.kind === 'verified' ? completeSubscription(deps, contactId, checked.phone) : checked
}

/**
 * Last step, once the visitor proved they hold the number: consent and the link recorded, the number
 * and consent saved on the contact by a job, and one confirmation text. A number linked to another
 * contact is never taken over from here, and an opted-out number is never opted back in (only START
 * from the phone does that): both were refused before a code was sent, and are checked again here.
 */
async function completeSubscription(deps: BridgeDeps, contactId: string, phone: string): Promise<ConfirmOutcome> {
  const refusal = await numberRefusal(deps.store.db, contactId, phone)
  if (refusal) return { kind: 'refused', reason: refusal }
  const now = deps.clock.now()
  await deps.store.transaction(async (trx) => {
    await runIn(trx, ...setConsent(phone, { state: 'opted_in', source: 'messenger', consentGiven: true, evidence: { contactId } }, now))
    await runIn(trx, ...linkPhoneContact({ phone, contactId, role: null, createdByBridge: false, source: 'verified' }, now))
    await savePhoneLater(trx, { contactId, phone, consent: true, conversationId: null }, now)
    await requestAutomated(
      trx,
      {
        key: sendKeys.confirmation(contactId, phone),
        kind: 'confirmation',
        contactId,
        phone,
        body: 'Thanks! You will now get our replies by text. Reply STOP to opt out.',
        requestedBy: 'messenger',
      },
      now,
    )
  })
  return { kind: 'subscribed', phone }
}
