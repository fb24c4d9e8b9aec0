import type { Executor, Tx } from './database.js'
import type { PhoneContact, SmsConversation } from './schema.js'

export async function findPhoneContact(db: Executor, phone: string): Promise<PhoneContact | undefined> {
  return db.selectFrom('phone_contacts').selectAll().where('phone', '=', phone).executeTakeFirst()
}

/** Links a phone to a contact; an existing link wins, so two writers agree on one contact. */
export async function linkPhoneContact(
  trx: Tx,
  link: { phone: string; contactId: string; role: string | null; createdByBridge: boolean },
  now = Date.now(),
): Promise<PhoneContact> {
  await trx
    .insertInto('phone_contacts')
    .values({
      phone: link.phone,
      intercom_contact_id: link.contactId,
      contact_role: link.role,
      created_by_bridge: link.createdByBridge ? 1 : 0,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('phone').doNothing())
    .execute()
  return trx.selectFrom('phone_contacts').selectAll().where('phone', '=', link.phone).executeTakeFirstOrThrow()
}

/** A teammate or the customer said which contact a number belongs to: that link replaces any other. */
export async function relinkPhone(trx: Tx, phone: string, contactId: string, now = Date.now()): Promise<void> {
  await trx
    .insertInto('phone_contacts')
    .values({ phone, intercom_contact_id: contactId, contact_role: null, created_by_bridge: 0, created_at: now, updated_at: now })
    .onConflict((oc) => oc.column('phone').doUpdateSet({ intercom_contact_id: contactId, updated_at: now }))
    .execute()
}

export async function findSmsConversation(db: Executor, contactId: string): Promise<SmsConversation | undefined> {
  return db.selectFrom('sms_conversations').selectAll().where('intercom_contact_id', '=', contactId).executeTakeFirst()
}

export async function findSmsConversationById(db: Executor, conversationId: string): Promise<SmsConversation | undefined> {
  return db
    .selectFrom('sms_conversations')
    .selectAll()
    .where('intercom_conversation_id', '=', conversationId)
    .executeTakeFirst()
}

/** Makes `conversationId` the contact's SMS conversation (replacing an older one) and marks it open. */
export async function setSmsConversation(
  trx: Tx,
  c: { contactId: string; conversationId: string; phone: string; twilioNumber: string | null },
  now = Date.now(),
): Promise<void> {
  await trx
    .insertInto('sms_conversations')
    .values({
      intercom_contact_id: c.contactId,
      intercom_conversation_id: c.conversationId,
      phone: c.phone,
      twilio_number: c.twilioNumber,
      closed_at: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.column('intercom_contact_id').doUpdateSet({
        intercom_conversation_id: c.conversationId,
        phone: c.phone,
        twilio_number: c.twilioNumber,
        closed_at: null,
        updated_at: now,
      }),
    )
    .execute()
}

export async function markConversationClosed(trx: Tx, conversationId: string, closedAt: number): Promise<void> {
  await trx
    .updateTable('sms_conversations')
    .set({ closed_at: closedAt, updated_at: Date.now() })
    .where('intercom_conversation_id', '=', conversationId)
    .execute()
}
