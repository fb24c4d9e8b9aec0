import { compiler, type Statement } from './statement.js'
import type { Executor } from './database.js'
import type { Consent, ConsentEvent, ConsentState } from './schema.js'

export async function getConsent(db: Executor, phone: string): Promise<Consent | undefined> {
  return db.selectFrom('consent').selectAll().where('phone', '=', phone).executeTakeFirst()
}

/** What caused a consent change, as far as the caller knows it; kept in the ledger. */
export interface ConsentEvidence {
  /** The text that caused it, as the customer typed it. */
  text?: string | null
  /** The Twilio MessageSid of that text, or of the text Twilio refused. */
  messageSid?: string | null
  /** Our number (or Messaging Service SID) on the other end. */
  number?: string | null
  /** The teammate who made the change. */
  actor?: string | null
  conversationId?: string | null
  /** The Intercom contact that proved it holds the number. */
  contactId?: string | null
}

export interface ConsentChange {
  state: ConsentState
  source: string
  /** The person also agreed to automated texts (SMS_CONSENT=required); never taken back here. */
  consentGiven?: boolean
  evidence?: ConsentEvidence
}

/**
 * Records the latest word on whether a number may be texted, and appends it with its evidence to the
 * ledger (`consent_events`): run both in one transaction, so neither exists without the other.
 */
export function setConsent(
  phone: string,
  { state, source, consentGiven = false, evidence = {} }: ConsentChange,
  now = Date.now(),
): Statement[] {
  const given = consentGiven ? { consent_given: 1 } : {}
  return [
    compiler
      .insertInto('consent')
      .values({ phone, state, source, changed_at: now, ...given })
      .onConflict((oc) => oc.column('phone').doUpdateSet({ state, source, changed_at: now, ...given }))
      .compile(),
    consentEvent(phone, { state, source, consentGiven, evidence }, now),
  ]
}

/**
 * The ledger row alone: a change the bridge saw but does not decide (a teammate changed the
 * contact's SMS subscription in Intercom, which automated texts honour). `setConsent` appends it too.
 */
export function consentEvent(
  phone: string,
  { state, source, consentGiven = false, evidence = {} }: ConsentChange,
  now = Date.now(),
): Statement {
  return compiler
    .insertInto('consent_events')
    .values({
      phone,
      state,
      source,
      ...(consentGiven ? { consent_given: 1 } : {}),
      text: evidence.text ?? null,
      message_sid: evidence.messageSid ?? null,
      number: evidence.number ?? null,
      actor: evidence.actor ?? null,
      conversation_id: evidence.conversationId ?? null,
      contact_id: evidence.contactId ?? null,
      created_at: now,
    })
    .compile()
}

/** Where Intercom's own record of SMS consent comes from in the ledger. */
export const INTERCOM_SUBSCRIPTION_SOURCE = 'intercom:subscription'

/** One number's ledger, oldest first. */
export async function consentHistory(db: Executor, phone: string): Promise<ConsentEvent[]> {
  return db.selectFrom('consent_events').selectAll().where('phone', '=', phone).orderBy('id').execute()
}

/** The whole ledger, oldest first. */
export async function consentLedger(db: Executor): Promise<ConsentEvent[]> {
  return db.selectFrom('consent_events').selectAll().orderBy('id').execute()
}

/**
 * A number's latest ledger event of one kind: what the bridge decided (the sidebar's "since when,
 * how"), or what Intercom's SMS subscription last said (INTERCOM_SUBSCRIPTION_SOURCE).
 */
export async function latestConsentEvent(
  db: Executor,
  phone: string,
  of: 'bridge' | 'intercom' = 'bridge',
): Promise<ConsentEvent | undefined> {
  return db
    .selectFrom('consent_events')
    .selectAll()
    .where('phone', '=', phone)
    .where('source', of === 'intercom' ? '=' : '!=', INTERCOM_SUBSCRIPTION_SOURCE)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst()
}
