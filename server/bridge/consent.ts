import { runIn } from '../../shared/db/statement.js'
import { getConsent, setConsent } from '../../shared/db/consent.js'
import { resolveRevocations } from '../../shared/db/revocations.js'
import type { Tx } from '../../shared/db/database.js'
import { TWILIO_ERRORS } from '../../shared/twilio-errors.js'
import type { BridgeDeps } from './deps.js'
import type { Config } from '../config.js'
import type { Consent } from '../../shared/db/schema.js'
import { CONTACT_ATTRIBUTES } from './contact-attributes.js'
import { queueShowOptOut } from './intercom-consent.js'

export interface Refusal {
  code: 'opted_out' | 'unsubscribed' | 'consent_required'
  /** For the team: a note, the sidebar, the skip record. */
  sentence: string
}

/** The custom attribute the bridge records Messenger consent in. Not `sms_consent`: that name is Intercom's own field. */
export const CONSENT_ATTRIBUTE = CONTACT_ATTRIBUTES.consent.name
/** What earlier versions called it (a custom attribute that collides with Intercom's native field); still read. */
export const LEGACY_CONSENT_ATTRIBUTE = 'sms_consent'

/**
 * The parts of an Intercom contact that speak to SMS consent: Intercom's native `sms_consent` and
 * `unsubscribed_from_sms` (current payloads carry them, the 2.14 description does not) and our
 * custom attributes.
 */
export interface ContactConsent {
  sms_consent?: unknown
  unsubscribed_from_sms?: unknown
  custom_attributes?: Record<string, unknown> | null
}

/**
 * The one answer to "may we text this number now?", for every outbound path. An opt-out (a STOP
 * keyword, or Twilio's 21610) always refuses. Automated texts (welcome, Series, confirmations) also
 * honour Intercom's own SMS subscription (`unsubscribed_from_sms`), and with SMS_CONSENT=required
 * need consent: Intercom's native `sms_consent`, our attribute, or consent recorded by the bridge. The
 * workspace's SMS subscription type, when the contact is unsubscribed from it, refuses them too. A
 * reply to a customer who texted us is conversational and needs no more than not having opted out.
 */
export async function textingRefusal(
  deps: Pick<BridgeDeps, 'store' | 'config' | 'clock'>,
  /** `purpose`: an automated text's (marketing unless said); a reply has none. */
  request: {
    phone: string
    automated: boolean
    purpose?: Purpose
    contact?: ContactConsent | null
    /** The SMS subscription type the contact is unsubscribed from in Intercom (IntercomApi.smsUnsubscribed). */
    unsubscribedFrom?: { name: string } | null
  },
): Promise<Refusal | null> {
  const consent = await getConsent(deps.store.db, request.phone)
  const spared = request.automated && request.purpose === 'transactional' && optOutScope(deps.config, deps.clock.now()) === 'marketing'
  if (consent?.state === 'opted_out' && !spared) return optedOut(consent)
  if (!request.automated) return null
  const contact = request.contact
  if (contact?.unsubscribed_from_sms === true) {
    return {
      code: 'unsubscribed',
      sentence: 'The contact is unsubscribed from SMS in Intercom (unsubscribed_from_sms), so automated texts are not sent.',
    }
  }
  if (request.unsubscribedFrom) {
    return {
      code: 'unsubscribed',
      sentence: `The contact is unsubscribed from the SMS subscription type "${request.unsubscribedFrom.name}" in Intercom, so automated texts are not sent.`,
    }
  }
  if (deps.config.consentMode === 'required') {
    const attributes = contact?.custom_attributes ?? {}
    const given =
      consent?.consent_given === 1 ||
      contact?.sms_consent === true ||
      attributes[CONSENT_ATTRIBUTE] === true ||
      attributes[LEGACY_CONSENT_ATTRIBUTE] === true
    if (!given) {
      return {
        code: 'consent_required',
        sentence:
          'The contact has not agreed to receive text messages (SMS_CONSENT=required and neither sms_consent nor sms_bridge_consent is true).',
      }
    }
  }
  return null
}

function optedOut(consent: Consent): Refusal {
  const how =
    consent.source === 'keyword'
      ? 'texted STOP'
      : consent.source.startsWith('twilio:')
        ? `Twilio reported error ${consent.source.slice(7)}`
        : consent.source
  const when = new Date(consent.changed_at).toISOString().slice(0, 10)
  return {
    code: 'opted_out',
    sentence: `The customer opted out of text messages (${how}, ${when}). They must text START to receive texts again.`,
  }
}

/** Why an automated text is sent: what OPT_OUT_SCOPE=marketing tells apart. */
export type Purpose = 'transactional' | 'marketing'

/**
 * When the FCC's revoke-all rule takes effect (47 CFR 64.1200(a)(10), deferred to 2027-01-31): one
 * revocation then stops every automated text from the sender. Midnight UTC, the earliest reading.
 */
export const REVOKE_ALL_FROM = Date.UTC(2027, 0, 31)

/** What an opt-out stops at `now`: OPT_OUT_SCOPE until revoke-all applies, every automated text from then on. */
export function optOutScope(config: Pick<Config, 'optOutScope'>, now: number): Config['optOutScope'] {
  return now >= REVOKE_ALL_FROM ? 'all' : config.optOutScope
}

/**
 * Records the opt-out a Twilio error says (21610: the number texted STOP to Twilio): the one way every
 * path that texts (replies, status callbacks, verification codes) learns it. Other codes change nothing.
 */
export async function recordTwilioOptOut(trx: Tx, refused: TwilioRefusal, now: number): Promise<void> {
  const { phone, code } = refused
  // An erased text has no number left (its status callbacks still arrive): nothing to record.
  if (!phone || !code || !TWILIO_ERRORS[code]?.optedOut) return
  const before = await getConsent(trx, phone)
  const evidence = {
    messageSid: refused.messageSid ?? null,
    number: refused.number ?? null,
    conversationId: refused.conversationId ?? null,
  }
  await runIn(
    trx,
    ...setConsent(phone, { state: 'opted_out', source: `twilio:${code}`, evidence }, now),
    resolveRevocations(phone, 'opted_out', now),
  )
  // Intercom is told of a change, not of every text Twilio refuses afterwards.
  if (before?.state !== 'opted_out') await queueShowOptOut(trx, phone, now)
}

/** A text Twilio refused: to whom, its error code, and what the ledger keeps of it. */
export interface TwilioRefusal {
  phone: string
  code: number | null
  messageSid?: string | null
  /** Our number (or Messaging Service SID) it was sent from. */
  number?: string | null
  conversationId?: string | null
}
