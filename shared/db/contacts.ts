import type { InsertResult } from 'kysely'
import type { Executor, Tx } from './database.js'
import { compiler, type Statement } from './statement.js'
import type { LinkSource, PhoneContact, SmsConversation, SmsConversationLink } from './schema.js'

export async function findPhoneContact(db: Executor, phone: string): Promise<PhoneContact | undefined> {
  return db.selectFrom('phone_contacts').selectAll().where('phone', '=', phone).executeTakeFirst()
}

/** A link to make: the number, its contact, and why the number is theirs (server/bridge/trust.ts). */
export interface NewLink {
  phone: string
  contactId: string
  role: string | null
  createdByBridge: boolean
  source: LinkSource
  /** Other contacts that carried the number when the bridge made its own lead (shown to the team). */
  others?: OtherContact[] | undefined
}

/** Another contact that carried a number when the bridge made its own lead for it: shown, never trusted. */
export interface OtherContact {
  id: string
  role: string | null
  name: string | null
}

/** The other contacts a link keeps (stored as JSON), for the note and the sidebar's merge. */
export function othersOf(link: Pick<PhoneContact, 'others'>): OtherContact[] {
  return link.others ? (JSON.parse(link.others) as OtherContact[]) : []
}

/** The links whose lead the bridge made for a number, for this contact. */
export async function createdLinksOf(db: Executor, contactId: string): Promise<PhoneContact[]> {
  return db.selectFrom('phone_contacts').selectAll().where('intercom_contact_id', '=', contactId).where('source', '=', 'created').execute()
}

/**
 * Links a phone to a contact; an existing link wins, so two writers agree on one contact. Two
 * statements: the insert, and the read of the link that won (its one row), one request to a remote
 * database.
 */
export function linkPhoneContact(link: NewLink, now = Date.now()): [Statement<InsertResult>, Statement<PhoneContact>] {
  return [
    compiler
      .insertInto('phone_contacts')
      .values({
        phone: link.phone,
        intercom_contact_id: link.contactId,
        contact_role: link.role,
        created_by_bridge: link.createdByBridge ? 1 : 0,
        source: link.source,
        others: link.others?.length ? JSON.stringify(link.others) : null,
        marked_at: link.source === 'marked' ? now : null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('phone').doNothing())
      .compile(),
    compiler.selectFrom('phone_contacts').selectAll().where('phone', '=', link.phone).compile(),
  ]
}

/** A teammate or the customer said which contact a number belongs to: that link replaces any other. */
export function relinkPhone(
  phone: string,
  contactId: string,
  source: Extract<LinkSource, 'teammate' | 'verified'>,
  now = Date.now(),
): Statement {
  return compiler
    .insertInto('phone_contacts')
    .values({
      phone,
      intercom_contact_id: contactId,
      contact_role: null,
      created_by_bridge: 0,
      source,
      others: null,
      marked_at: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.column('phone').doUpdateSet({ intercom_contact_id: contactId, source, others: null, marked_at: null, updated_at: now }),
    )
    .compile()
}

/** The bridge's mark for this link is on the Intercom contact (only while the link still names it). */
export function setLinkMarked(phone: string, contactId: string, now = Date.now()): Statement {
  return compiler
    .updateTable('phone_contacts')
    .set({ marked_at: now })
    .where('phone', '=', phone)
    .where('intercom_contact_id', '=', contactId)
    .compile()
}

/** Links whose contact does not carry the bridge's mark yet (made before marks, or whose mark failed), oldest first. */
export async function unmarkedLinks(db: Executor, limit: number): Promise<Array<{ phone: string; intercom_contact_id: string }>> {
  return db
    .selectFrom('phone_contacts')
    .select(['phone', 'intercom_contact_id'])
    .where('marked_at', 'is', null)
    .where('source', 'in', ['created', 'user', 'verified', 'teammate', 'merged'])
    .where('phone', 'like', '+%')
    .orderBy('created_at')
    .limit(limit)
    .execute()
}

/** The number most recently linked to this contact. */
export async function latestPhoneOfContact(db: Executor, contactId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('phone_contacts')
    .select('phone')
    .where('intercom_contact_id', '=', contactId)
    .orderBy('updated_at', 'desc')
    .executeTakeFirst()
  return row?.phone
}

/** Whether the bridge itself created this contact (from the customer's own first text). */
export async function isContactCreatedByBridge(db: Executor, contactId: string): Promise<boolean> {
  const row = await db
    .selectFrom('phone_contacts')
    .select('phone')
    .where('intercom_contact_id', '=', contactId)
    .where('created_by_bridge', '=', 1)
    .executeTakeFirst()
  return row !== undefined
}

export async function findSmsConversation(db: Executor, contactId: string): Promise<SmsConversation | undefined> {
  return db.selectFrom('sms_conversations').selectAll().where('intercom_contact_id', '=', contactId).executeTakeFirst()
}

/**
 * Any conversation texts were threaded into with this contact, the current one or an older one: where
 * a teammate's reply in it is texted to, and from which of our numbers.
 */
export async function findConversationLink(db: Executor, conversationId: string): Promise<SmsConversationLink | undefined> {
  return db.selectFrom('sms_conversation_links').selectAll().where('intercom_conversation_id', '=', conversationId).executeTakeFirst()
}

/** The conversations texts were threaded into with this contact, newest first (at most `limit`). */
export async function conversationsLinkedTo(db: Executor, contactId: string, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('sms_conversation_links')
    .select('intercom_conversation_id')
    .where('intercom_contact_id', '=', contactId)
    .orderBy('updated_at', 'desc')
    .limit(limit)
    .execute()
  return rows.map((r) => r.intercom_conversation_id)
}

/**
 * Makes `conversationId` the contact's SMS conversation (replacing an older one, which stays linked
 * for replies) and marks it open: a customer's text reopens it in Intercom.
 */
export function setSmsConversation(
  c: { contactId: string; conversationId: string; phone: string; twilioNumber: string | null },
  now = Date.now(),
): [Statement, Statement] {
  // Intercom's times are whole seconds: a close in the same second as this text is not older than it.
  const stateAt = Math.floor(now / 1000) * 1000
  return [
    compiler
      .insertInto('sms_conversations')
      .values({
        intercom_contact_id: c.contactId,
        intercom_conversation_id: c.conversationId,
        phone: c.phone,
        twilio_number: c.twilioNumber,
        closed_at: null,
        state_at: stateAt,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.column('intercom_contact_id').doUpdateSet({
          intercom_conversation_id: c.conversationId,
          phone: c.phone,
          twilio_number: c.twilioNumber,
          closed_at: null,
          state_at: stateAt,
          updated_at: now,
        }),
      )
      .compile(),
    compiler
      .insertInto('sms_conversation_links')
      .values({
        intercom_conversation_id: c.conversationId,
        intercom_contact_id: c.contactId,
        phone: c.phone,
        twilio_number: c.twilioNumber,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .column('intercom_conversation_id')
          .doUpdateSet({ intercom_contact_id: c.contactId, phone: c.phone, twilio_number: c.twilioNumber, updated_at: now }),
      )
      .compile(),
  ]
}

/**
 * Follows Intercom's view of a conversation: closed (with when), or open again (a teammate reopened
 * or snoozed it). A state older than the one already applied is ignored: notifications come out of
 * order. Returns whether anything changed.
 */
export async function applyConversationState(trx: Tx, conversationId: string, state: { closed: boolean; at: number }): Promise<boolean> {
  const result = await trx
    .updateTable('sms_conversations')
    .set({ closed_at: state.closed ? state.at : null, state_at: state.at, updated_at: Date.now() })
    .where('intercom_conversation_id', '=', conversationId)
    .where((eb) => eb.or([eb('state_at', 'is', null), eb('state_at', '<=', state.at)]))
    .where((eb) => (state.closed ? eb('closed_at', 'is', null) : eb('closed_at', 'is not', null)))
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/**
 * A lead was merged into a user: every record of ours about the lead becomes the user's. The lead's
 * numbers are the user's now, for the reason `source` gives (`teammate`: merged from the SMS panel;
 * `merged`: Intercom says it merged them); its SMS conversation becomes the user's unless they have
 * one (the older one stays linked, so replies in it still reach the phone). Returns the numbers moved.
 */
export async function moveContactRecords(
  trx: Tx,
  { from, into, source }: { from: string; into: string; source: Extract<LinkSource, 'teammate' | 'merged'> },
  now = Date.now(),
): Promise<string[]> {
  const moved = await trx
    .updateTable('phone_contacts')
    .set({ intercom_contact_id: into, contact_role: 'user', created_by_bridge: 0, source, others: null, marked_at: null, updated_at: now })
    .where('intercom_contact_id', '=', from)
    .returning('phone')
    .execute()
  const theirs = await findSmsConversation(trx, into)
  if (theirs) await trx.deleteFrom('sms_conversations').where('intercom_contact_id', '=', from).execute()
  else
    await trx
      .updateTable('sms_conversations')
      .set({ intercom_contact_id: into, updated_at: now })
      .where('intercom_contact_id', '=', from)
      .execute()
  await trx
    .updateTable('sms_conversation_links')
    .set({ intercom_contact_id: into, updated_at: now })
    .where('intercom_contact_id', '=', from)
    .execute()
  await trx.updateTable('messages').set({ intercom_contact_id: into }).where('intercom_contact_id', '=', from).execute()
  return moved.map((r) => r.phone)
}
