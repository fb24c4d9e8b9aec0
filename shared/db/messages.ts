import type { Executor, Tx } from './database.js'
import type { Message, MessageUpdate, NewMessage } from './schema.js'

export interface MediaItem {
  url: string
  contentType: string
}

export async function insertMessage(trx: Tx, message: NewMessage): Promise<number> {
  const row = await trx.insertInto('messages').values(message).returning('id').executeTakeFirstOrThrow()
  return row.id
}

/** Inserts a message unless one with the same Twilio sid exists (a redelivery): then undefined. */
export async function insertMessageOnce(trx: Tx, message: NewMessage): Promise<number | undefined> {
  const row = await trx
    .insertInto('messages')
    .values(message)
    .onConflict((oc) => oc.column('twilio_sid').doNothing())
    .returning('id')
    .executeTakeFirst()
  return row?.id
}

export async function getMessage(db: Executor, id: number): Promise<Message | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function findMessageBySid(db: Executor, sid: string): Promise<Message | undefined> {
  return db.selectFrom('messages').selectAll().where('twilio_sid', '=', sid).executeTakeFirst()
}

export async function updateMessage(trx: Tx, id: number, update: MessageUpdate): Promise<void> {
  await trx
    .updateTable('messages')
    .set({ ...update, updated_at: Date.now() })
    .where('id', '=', id)
    .execute()
}

export function mediaOf(message: Pick<Message, 'media'>): MediaItem[] {
  return JSON.parse(message.media) as MediaItem[]
}

/** Which of these Twilio sids we already have. */
export async function knownSids(db: Executor, sids: string[]): Promise<Set<string>> {
  if (sids.length === 0) return new Set()
  const rows = await db.selectFrom('messages').select('twilio_sid').where('twilio_sid', 'in', sids).execute()
  return new Set(rows.map((r) => r.twilio_sid!))
}
