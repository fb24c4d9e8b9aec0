import { sql } from 'kysely'
import { compiler, type Statement } from './statement.js'
import type { Executor, Tx } from './database.js'
import type { Broadcast, BroadcastRecipient, BroadcastState, BroadcastTable, BroadcastRecipientTable, RecipientState } from './schema.js'
import type { Insertable } from 'kysely'

export type NewBroadcast = Pick<BroadcastTable, 'audience_kind' | 'audience_ref' | 'template' | 'purpose' | 'send_at' | 'created_by'>
/** A recipient as judged: the text's columns only when it is pending. */
export type NewRecipient = Pick<
  Insertable<BroadcastRecipientTable>,
  'broadcast_id' | 'intercom_contact_id' | 'phone' | 'state' | 'reason'
> &
  Partial<Omit<Insertable<BroadcastRecipientTable>, 'created_at'>>

const TEXT_COLUMNS = { body: null, segments: 0, encoding: null, cost: null, cost_unit: null, time_zone: null, not_before: 0 }

/** The send key of a broadcast's text to a contact: once for ever (automated_sends). */
export const broadcastSendKey = (broadcastId: number, contactId: string) => `broadcast:${broadcastId}:${contactId}`

/** The broadcast a send key belongs to, or null when the key is not a broadcast's. */
export async function broadcastOfSendKey(db: Executor, key: string): Promise<Broadcast | null> {
  const id = /^broadcast:(\d+):/.exec(key)?.[1]
  return id ? ((await getBroadcast(db, Number(id))) ?? null) : null
}

export async function insertBroadcast(trx: Tx, b: NewBroadcast, now: number): Promise<number> {
  const row = await trx
    .insertInto('broadcasts')
    .values({ ...b, state: 'expanding', cursor: null, created_at: now, updated_at: now })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

export function getBroadcast(db: Executor, id: number): Promise<Broadcast | undefined> {
  return db.selectFrom('broadcasts').selectAll().where('id', '=', id).executeTakeFirst()
}

/** Moves a broadcast from one of `from` to `to`: no row changed when it was in none of them. */
export function moveBroadcast(
  id: number,
  change: { from: BroadcastState[]; to: BroadcastState; failure?: string },
  now: number,
): Statement {
  return compiler
    .updateTable('broadcasts')
    .set({
      state: change.to,
      updated_at: now,
      ...(change.to === 'sending' && change.from.includes('ready') ? { confirmed_at: now } : {}),
      ...(change.failure ? { failure: change.failure } : {}),
    })
    .where('id', '=', id)
    .where('state', 'in', change.from)
    .compile()
}

/** After a page of the audience: where the next starts (null: that was the last). */
export function pageDone(id: number, next: string | null, now: number): Statement {
  return compiler
    .updateTable('broadcasts')
    .set((eb) => ({ cursor: next, pages: eb('pages', '+', 1), updated_at: now }))
    .where('id', '=', id)
    .compile()
}

export function countUnmatched(id: number, count: number): Statement {
  return compiler
    .updateTable('broadcasts')
    .set((eb) => ({ unmatched: eb('unmatched', '+', count) }))
    .where('id', '=', id)
    .compile()
}

/** Recipients of one page; a contact met again (a page read twice after a crash) keeps its first row. */
export function insertRecipients(rows: NewRecipient[], now: number): Statement {
  return compiler
    .insertInto('broadcast_recipients')
    .values(rows.map((r) => ({ ...TEXT_COLUMNS, ...r, created_at: now })))
    .onConflict((oc) => oc.columns(['broadcast_id', 'intercom_contact_id']).doNothing())
    .compile()
}

/**
 * A broadcast's first recipients in a state, in the order they were added: `listed`, a file's next
 * lines to look at; `pending`, the preview's first texts.
 */
export function recipientsIn(db: Executor, id: number, state: RecipientState, limit: number): Promise<BroadcastRecipient[]> {
  return db
    .selectFrom('broadcast_recipients')
    .selectAll()
    .where('broadcast_id', '=', id)
    .where('state', '=', state)
    .orderBy('created_at')
    .orderBy('intercom_contact_id')
    .limit(limit)
    .execute()
}

/** Writes what looking at a listed contact found (a file audience). */
export function settleListed(r: NewRecipient): Statement {
  return compiler
    .updateTable('broadcast_recipients')
    .set({ ...TEXT_COLUMNS, ...r })
    .where('broadcast_id', '=', r.broadcast_id)
    .where('intercom_contact_id', '=', r.intercom_contact_id)
    .where('state', '=', 'listed')
    .compile()
}

/** Whether another contact of this broadcast already gets a text at this number. */
export async function numberTaken(db: Executor, id: number, phone: string): Promise<boolean> {
  const row = await db
    .selectFrom('broadcast_recipients')
    .select('intercom_contact_id')
    .where('broadcast_id', '=', id)
    .where('phone', '=', phone)
    .where('state', 'in', ['pending', 'released'])
    .executeTakeFirst()
  return row !== undefined
}

/** Pending recipients whose quiet hours are over, oldest first. */
export function duePending(db: Executor, id: number, now: number, limit: number): Promise<BroadcastRecipient[]> {
  return db
    .selectFrom('broadcast_recipients')
    .selectAll()
    .where('broadcast_id', '=', id)
    .where('state', '=', 'pending')
    .where('not_before', '<=', now)
    .orderBy('not_before')
    .orderBy('created_at')
    .limit(limit)
    .execute()
}

/** When the next pending recipient's quiet hours end, or null when none is pending. */
export async function nextPendingAt(db: Executor, id: number): Promise<number | null> {
  const row = await db
    .selectFrom('broadcast_recipients')
    .select((eb) => eb.fn.min('not_before').as('at'))
    .where('broadcast_id', '=', id)
    .where('state', '=', 'pending')
    .executeTakeFirst()
  return row?.at ?? null
}

export function holdRecipient(id: number, contactId: string, until: number): Statement {
  return compiler
    .updateTable('broadcast_recipients')
    .set({ not_before: until })
    .where('broadcast_id', '=', id)
    .where('intercom_contact_id', '=', contactId)
    .compile()
}

/** Handed to automated_sends, which keeps the text from then on. */
export function releaseRecipient(id: number, contactId: string): Statement {
  return compiler
    .updateTable('broadcast_recipients')
    .set({ state: 'released', body: null })
    .where('broadcast_id', '=', id)
    .where('intercom_contact_id', '=', contactId)
    .where('state', '=', 'pending')
    .compile()
}

/** How many recipients are in each state (and, excluded, for each reason). */
export async function recipientCounts(db: Executor, id: number): Promise<Array<{ state: string; reason: string | null; count: number }>> {
  const rows = await db
    .selectFrom('broadcast_recipients')
    .select(['state', 'reason', (eb) => eb.fn.countAll<number>().as('count')])
    .where('broadcast_id', '=', id)
    .groupBy(['state', 'reason'])
    .execute()
  return rows.map((r) => ({ ...r, count: Number(r.count) }))
}

/** The texts still to go: per time zone (quiet hours), their segments, encodings and estimated cost. */
export async function pendingTotals(db: Executor, id: number) {
  const base = db.selectFrom('broadcast_recipients').where('broadcast_id', '=', id).where('state', '=', 'pending')
  const zones = await base
    .select(['time_zone', (eb) => eb.fn.countAll<number>().as('count')])
    .groupBy('time_zone')
    .execute()
  const encodings = await base
    .select(['encoding', (eb) => eb.fn.countAll<number>().as('count'), (eb) => eb.fn.sum<number>('segments').as('segments')])
    .groupBy('encoding')
    .execute()
  const cost = await base
    .select([
      'cost_unit',
      (eb) => eb.fn.sum<number>('cost').as('cost'),
      sql<number>`sum(case when cost is null then 1 else 0 end)`.as('unpriced'),
    ])
    .groupBy('cost_unit')
    .execute()
  return { zones, encodings, cost }
}

/**
 * What became of the released texts: the send's status, the text's last status and error code,
 * whether the number opted out after the text, and the estimated cost, one row per combination.
 */
export async function releasedOutcomes(db: Executor, id: number) {
  const rows = await db
    .selectFrom('broadcast_recipients as r')
    .leftJoin('automated_sends as a', (join) =>
      join.on(sql<boolean>`a.key = 'broadcast:' || r.broadcast_id || ':' || r.intercom_contact_id`),
    )
    .leftJoin('messages as m', 'm.id', 'a.message_id')
    .leftJoin('consent as c', (join) =>
      join.onRef('c.phone', '=', 'm.phone').on('c.state', '=', 'opted_out').onRef('c.changed_at', '>=', 'm.created_at'),
    )
    .select([
      'a.status as send',
      'a.reason as reason',
      'm.status as status',
      'm.error_code as errorCode',
      sql<number>`count(*)`.as('count'),
      sql<number>`sum(case when c.phone is null then 0 else 1 end)`.as('optedOut'),
      sql<number | null>`sum(case when m.twilio_sid is null then null else r.cost end)`.as('cost'),
      sql<number>`sum(case when m.twilio_sid is not null and r.cost is null then 1 else 0 end)`.as('unpriced'),
    ])
    .where('r.broadcast_id', '=', id)
    .where('r.state', '=', 'released')
    .groupBy(['a.status', 'a.reason', 'm.status', 'm.error_code'])
    .execute()
  return rows.map((r) => ({ ...r, count: Number(r.count), optedOut: Number(r.optedOut), unpriced: Number(r.unpriced) }))
}

/** An erasure: the person's recipient rows go (a text not yet released is then never sent). */
export async function eraseRecipients(trx: Tx, phones: string[], contacts: string[]): Promise<number> {
  const result = await trx
    .deleteFrom('broadcast_recipients')
    .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)]))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

export function listBroadcasts(db: Executor, limit = 50): Promise<Broadcast[]> {
  return db.selectFrom('broadcasts').selectAll().orderBy('id', 'desc').limit(limit).execute()
}
