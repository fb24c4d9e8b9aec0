import { createHmac } from 'node:crypto'
import type { Intercom } from 'intercom-client'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { findPhoneContact, type OtherContact } from '../../shared/db/contacts.js'
import type { LinkSource } from '../../shared/db/schema.js'
import { toE164 } from '../../shared/phone.js'
import { derivedKey, safeEqual } from '../../shared/signatures.js'
import type { Config } from '../config.js'
import type { BridgeDeps } from './deps.js'
import { CONTACT_ATTRIBUTES } from './contact-attributes.js'

/**
 * Whose a number is. A lead's `phone` (and `name`) are the visitor's own words: the Messenger lets
 * anyone set them from the browser, without identity verification, and Intercom signs what they
 * typed. So a number belongs to a contact only on the strength of something the team or the phone
 * itself did:
 * - the number texted us and the bridge made its own lead for it (`created`);
 * - the contact carries the bridge's mark for the number (`marked`): a keyed hash of the contact's
 *   id and the number, which only the bridge can compute, written when it links a number; it is how
 *   the bridge recognises its own links when its database is gone (a restore, a new volume);
 * - a `user` has the number (`user`): users come from the team's own systems (email or external_id),
 *   unless MATCH_USERS_BY_PHONE=false says the workspace lets visitors identify themselves;
 * - the visitor proved it with a texted code (`verified`), or a teammate linked it (`teammate`).
 * Nothing else decides: not being the most recently updated contact, not a name, not a lead's phone.
 */

/** The custom attribute that carries the bridge's mark. */
export const MARK_ATTRIBUTE = CONTACT_ATTRIBUTES.phoneMark.name

/** The mark for (contact, number): keyed from the client secret, so no visitor can compute or move it. */
export function phoneMark(config: Pick<Config, 'intercom'>, contactId: string, phone: string): string {
  const mac = createHmac('sha256', derivedKey(config.intercom.clientSecret, 'phone-marks-v1'))
    .update(`${contactId}\n${phone}`)
    .digest('base64url')
  return `v1.${mac.slice(0, 32)}`
}

/** The parts of a contact the rules read (an API contact, or the one a Canvas Kit request carries). */
export interface ContactFacts {
  id: string
  role?: string | null | undefined
  phone?: string | null | undefined
  custom_attributes?: Record<string, unknown> | null | undefined
}

/** Whether the contact carries the bridge's mark for exactly this number. */
export function carriesMark(config: Pick<Config, 'intercom'>, contact: ContactFacts, phone: string): boolean {
  const mark = contact.custom_attributes?.[MARK_ATTRIBUTE]
  return typeof mark === 'string' && safeEqual(mark, phoneMark(config, contact.id, phone))
}

/**
 * Whether the contact is a user from the team's systems whose phone is this number, in whatever form
 * it is stored ("(415) 555-0123" is read in the number's own country when DEFAULT_COUNTRY is unset).
 */
function isTeamUser(config: Pick<Config, 'matchUsersByPhone' | 'defaultCountry'>, contact: ContactFacts, phone: string): boolean {
  if (!config.matchUsersByPhone || contact.role !== 'user' || !contact.phone) return false
  return toE164(contact.phone, config.defaultCountry ?? parsePhoneNumberFromString(phone)?.country) === phone
}

export type Choice =
  { contact: Intercom.Contact; source: Extract<LinkSource, 'marked' | 'user'> } | { contact: null; others: OtherContact[] }

/**
 * Among several with the same standing: the most recently updated, the one a teammate most likely
 * works with; then the oldest.
 */
function newest(contacts: Intercom.Contact[]): Intercom.Contact | undefined {
  return [...contacts].sort((a, b) => (b.updated_at ?? 0) - (a.updated_at ?? 0) || (a.created_at ?? 0) - (b.created_at ?? 0))[0]
}

/**
 * Which of the contacts Intercom found with this number it belongs to: the bridge's own mark first
 * (the contact its texts already thread into), then a user from the team's systems; else none, and
 * the bridge makes its own lead, telling the team which others carry the number.
 */
export function chooseContact(
  config: Pick<Config, 'intercom' | 'matchUsersByPhone' | 'defaultCountry'>,
  found: Intercom.Contact[],
  phone: string,
): Choice {
  const marked = newest(found.filter((c) => carriesMark(config, c as ContactFacts, phone)))
  if (marked) return { contact: marked, source: 'marked' }
  const user = newest(found.filter((c) => isTeamUser(config, c as ContactFacts, phone)))
  if (user) return { contact: user, source: 'user' }
  return { contact: null, others: found.slice(0, 5).map((c) => ({ id: c.id, role: c.role ?? null, name: c.name?.slice(0, 60) ?? null })) }
}

/**
 * Why the bridge may text this number on this contact's account without a teammate: our link (how
 * it was made), the bridge's mark, or a user's phone from the team's systems. Null when only the
 * contact's own word says so. Automated texts (welcome, Series, confirmations) go only where this
 * says something.
 */
export async function numberTrust(
  deps: Pick<BridgeDeps, 'store' | 'config'>,
  contact: ContactFacts,
  phone: string,
): Promise<LinkSource | null> {
  const link = await findPhoneContact(deps.store.db, phone)
  if (link?.intercom_contact_id === contact.id) return link.source
  if (carriesMark(deps.config, contact, phone)) return 'marked'
  if (isTeamUser(deps.config, contact, phone)) return 'user'
  return null
}

/** The sentence the team reads when an automated text is refused for an untrusted number. */
export const UNTRUSTED_NUMBER =
  "The number is only on the contact's own profile (a lead can set its phone from the Messenger), so no automated text goes to it. It may be texted once it texts us, is verified by code in the Messenger, or a teammate saves it in the SMS panel."
