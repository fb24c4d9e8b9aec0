import type { Executor, Tx } from './database.js'
import type { ScheduledText, ScheduledTextTable } from './schema.js'
import { compiler, type Statement } from './statement.js'

export type ScheduledState = ScheduledTextTable['state']
/** States a scheduled text can still leave: it has not gone, and nobody cancelled it. */
export const OPEN_STATES: ScheduledState[] = ['scheduled', 'held']

export interface NewScheduledText {
  contactId: string
  conversationId: string | null
  phone: string
  body: string
  sendAt: number
  timeZone: string
  choice: 'tomorrow' | 'business_morning' | 'chosen'
  adminId: string | null
  adminName: string | null
}

/** Records a scheduled text; answers its id (the job that sends it is keyed by it). */
export async function insertScheduledText(trx: Tx, t: NewScheduledText, now: number): Promise<number> {
  const row = await trx
    .insertInto('scheduled_texts')
    .values({
      intercom_contact_id: t.contactId,
      intercom_conversation_id: t.conversationId,
      phone: t.phone,
      body: t.body,
      send_at: t.sendAt,
      time_zone: t.timeZone,
      choice: t.choice,
      admin_id: t.adminId,
      admin_name: t.adminName,
      state: 'scheduled',
      reason: null,
      message_id: null,
      held_at: null,
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

export function getScheduledText(db: Executor, id: number): Promise<ScheduledText | undefined> {
  return db.selectFrom('scheduled_texts').selectAll().where('id', '=', id).executeTakeFirst()
}

/** The contact's texts still waiting (scheduled or held), soonest first. */
export function openScheduledTexts(db: Executor, contactId: string): Promise<ScheduledText[]> {
  return db
    .selectFrom('scheduled_texts')
    .selectAll()
    .where('intercom_contact_id', '=', contactId)
    .where('state', 'in', OPEN_STATES)
    .orderBy('send_at')
    .orderBy('id')
    .limit(10)
    .execute()
}

/**
 * Moves a scheduled text on, only from one of `from`: one row changed when it moved, none when
 * something else moved it first (a cancel racing the send, a second click). `sent` sets its message.
 */
export function moveScheduledText(
  id: number,
  from: ScheduledState[],
  to: { state: ScheduledState; reason?: string | null; messageId?: number | null },
  now: number,
): Statement {
  return compiler
    .updateTable('scheduled_texts')
    .set({
      state: to.state,
      ...(to.reason !== undefined ? { reason: to.reason } : {}),
      ...(to.messageId !== undefined ? { message_id: to.messageId } : {}),
      ...(to.state === 'scheduled' ? { held_at: null } : {}),
      updated_at: now,
    })
    .where('id', '=', id)
    .where('state', 'in', from)
    .compile()
}

/**
 * The customer wrote first: every text scheduled to their number before `now` is held until a
 * teammate says whether it should still go. Run with the inbound text's insert.
 */
export function holdScheduledTexts(phone: string, now: number): Statement {
  return compiler
    .updateTable('scheduled_texts')
    .set({ state: 'held', reason: 'customer_wrote', held_at: now, updated_at: now })
    .where('phone', '=', phone)
    .where('state', '=', 'scheduled')
    .where('created_at', '<', now)
    .compile()
}

/** The texts `holdScheduledTexts` held at `at`. */
export function heldAt(db: Executor, phone: string, at: number): Promise<ScheduledText[]> {
  return db
    .selectFrom('scheduled_texts')
    .selectAll()
    .where('phone', '=', phone)
    .where('state', '=', 'held')
    .where('held_at', '=', at)
    .orderBy('id')
    .execute()
}

/** A person's scheduled texts go with them (erasure): the words are theirs and the team's to them. */
export function eraseScheduledTexts(phones: string[], contactIds: string[]): Statement {
  return compiler
    .deleteFrom('scheduled_texts')
    .where((eb) =>
      eb.or([eb('phone', 'in', phones.length ? phones : ['']), eb('intercom_contact_id', 'in', contactIds.length ? contactIds : [''])]),
    )
    .compile()
}
