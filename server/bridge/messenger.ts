import { runIn } from '../../shared/db/statement.js'
import { findPhoneContact, linkPhoneContact } from '../../shared/db/contacts.js'
import { getConsent, setConsent } from '../../shared/db/consent.js'
import { getVerification } from '../../shared/db/verifications.js'
import { isTextableNumber, toE164 } from '../../shared/phone.js'
import { requestAutomated } from './automated.js'
import type { BridgeDeps } from './deps.js'
import { sendKeys } from './keys.js'
import { savePhoneLater } from './sidebar.js'
import { startVerification } from './verification.js'

/**
 * What the Messenger card ("continue by SMS", Canvas Kit, `canvas/`) does for a visitor: everything
 * the visitor types is an outsider's input, so a number is proved with a texted code before anything
 * is linked, consented or sent (see verification.ts).
 */

/**
 * First step: a number and agreement to texts, checked, then a code texted to the number (nothing
 * is linked or recorded until the visitor proves they hold it).
 */
export async function subscribeFromMessenger(
  deps: BridgeDeps,
  contactId: string,
  typed: string,
  agreed: boolean,
): Promise<{ ok: true; phone: string; verificationId: number } | { ok: false; phoneError?: string | undefined; consentError?: string | undefined }> {
  const phone = toE164((typed ?? '').slice(0, 64), deps.config.defaultCountry)
  const phoneError = !phone
    ? 'Please enter a mobile number with its country code, e.g. +1 415 555 0100.'
    : !(await isTextableNumber(phone))
      ? 'That number cannot receive texts. Please use a mobile number.'
      : undefined
  const consentError = agreed ? undefined : 'Please tick the box to agree to text messages.'
  if (phoneError || consentError || !phone) return { ok: false, phoneError, consentError }
  const started = await startVerification(deps, contactId, phone)
  return started.ok ? { ok: true, phone, verificationId: started.verificationId } : { ok: false, phoneError: started.error }
}

/** The verification under way for this visitor, if it is theirs. */
export async function verificationOf(deps: BridgeDeps, contactId: string, verificationId: number): Promise<{ phone: string } | undefined> {
  const v = await getVerification(deps.store.db, verificationId)
  return v && v.intercom_contact_id === contactId ? { phone: v.phone } : undefined
}

/**
 * Last step, once the visitor proved they hold the number: consent and the link recorded, the number
 * and consent saved on the contact by a job, and one confirmation text. A number linked to another
 * contact is never taken over from here, and an opted-out number is never opted back in (only START
 * from the phone does that): both were refused before a code was sent, and are checked again here.
 */
export async function completeSubscription(deps: BridgeDeps, contactId: string, phone: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const link = await findPhoneContact(deps.store.db, phone)
  if (link && link.intercom_contact_id !== contactId) return { ok: false, error: 'This number cannot be used here. Please ask us in the chat.' }
  if ((await getConsent(deps.store.db, phone))?.state === 'opted_out') return { ok: false, error: 'This number opted out of our texts. Text START to us from that phone first.' }
  const now = deps.clock.now()
  await deps.store.transaction(async (trx) => {
    await runIn(trx, setConsent(phone, { state: 'opted_in', source: 'messenger', consentGiven: true }, now))
    await runIn(trx, ...linkPhoneContact({ phone, contactId, role: null, createdByBridge: false, source: 'verified' }, now))
    await savePhoneLater(trx, { contactId, phone, consent: true, conversationId: null }, now)
    await requestAutomated(trx, {
      key: sendKeys.confirmation(contactId, phone),
      kind: 'confirmation',
      contactId,
      phone,
      body: 'Thanks! You will now get our replies by text. Reply STOP to opt out.',
      requestedBy: 'messenger',
    }, now)
  })
  return { ok: true }
}
