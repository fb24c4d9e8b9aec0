import { compiler, type Statement } from './statement.js'
import type { Executor, Tx } from './database.js'
import type { Selectable } from 'kysely'
import type { PacedTextTable, SenderPacingTable } from './schema.js'

export type SenderPace = Omit<Selectable<SenderPacingTable>, 'updated_at'>

/** The pace rows of these senders (in a slot's transaction); a sender never seen is absent. */
export async function readPaces(trx: Tx, senders: string[]): Promise<Map<string, SenderPace>> {
  const rows = await trx.selectFrom('sender_pacing').selectAll().where('sender', 'in', senders).execute()
  return new Map<string, SenderPace>(rows.map((r) => [r.sender, r]))
}

/** Writes a sender's pace (the whole row: it was read in the same transaction). */
export function savePace(pace: SenderPace, now: number): Statement {
  const row = { ...pace, updated_at: now }
  return compiler
    .insertInto('sender_pacing')
    .values(row)
    .onConflict((oc) => oc.column('sender').doUpdateSet(row))
    .compile()
}

/** Senders paused by the spike detector, oldest pause first. */
export function pausedSenders(db: Executor) {
  return db
    .selectFrom('sender_pacing')
    .select(['sender', 'paused_at', 'paused_why', 'paused_detail'])
    .where('paused_at', 'is not', null)
    .orderBy('paused_at')
    .execute()
}

/** Pauses a sender, unless it is paused already (the first cause is kept). */
export function pauseSender(
  sender: string,
  pause: { why: NonNullable<SenderPacingTable['paused_why']>; detail: string },
  now: number,
): Statement {
  return compiler
    .insertInto('sender_pacing')
    .values({ sender, paused_at: now, paused_why: pause.why, paused_detail: pause.detail, updated_at: now })
    .onConflict((oc) =>
      oc
        .column('sender')
        .doUpdateSet({ paused_at: now, paused_why: pause.why, paused_detail: pause.detail, updated_at: now })
        .where('sender_pacing.paused_at', 'is', null),
    )
    .compile()
}

/**
 * Resumes a sender: the pause goes, the slots promised while paused are forgotten (the texts are
 * woken and take new ones) and the window starts afresh, else the next refusal pauses it again.
 */
export function resumeSender(sender: string, now: number): Statement[] {
  return [
    compiler
      .updateTable('sender_pacing')
      .set({ paused_at: null, paused_why: null, paused_detail: null, promised_until: 0, updated_at: now })
      .where('sender', '=', sender)
      .compile(),
    compiler.deleteFrom('paced_texts').where('sender', '=', sender).where('outcome', 'is not', null).compile(),
  ]
}

/** How many texts of a sender's window the spike detector keeps (more than it reads). */
const KEEP_PER_SENDER = 1_000

/** Records an automated or bulk text as paced, in the transaction that creates it; trims the sender's old rows. */
export function markPaced(text: { messageId: number; sender: string; lane: PacedTextTable['lane'] }, now: number): Statement[] {
  return [
    compiler
      .insertInto('paced_texts')
      .values({ message_id: text.messageId, sender: text.sender, lane: text.lane, outcome: null, created_at: now })
      .onConflict((oc) => oc.column('message_id').doNothing())
      .compile(),
    compiler
      .deleteFrom('paced_texts')
      .where('sender', '=', text.sender)
      .where('message_id', '<=', (eb) =>
        eb
          .selectFrom('paced_texts')
          .select('message_id')
          .where('sender', '=', text.sender)
          .orderBy('message_id', 'desc')
          .limit(1)
          .offset(KEEP_PER_SENDER),
      )
      .compile(),
  ]
}

export async function findPacedText(trx: Tx, messageId: number) {
  return trx.selectFrom('paced_texts').selectAll().where('message_id', '=', messageId).executeTakeFirst()
}

export function setPacedOutcome(messageId: number, outcome: NonNullable<PacedTextTable['outcome']>): Statement {
  return compiler.updateTable('paced_texts').set({ outcome }).where('message_id', '=', messageId).compile()
}

/** The outcomes of a sender's last `size` settled texts, newest first. */
export async function recentOutcomes(trx: Tx, sender: string, size: number): Promise<Array<PacedTextTable['outcome']>> {
  const rows = await trx
    .selectFrom('paced_texts')
    .select('outcome')
    .where('sender', '=', sender)
    .where('outcome', 'is not', null)
    .orderBy('message_id', 'desc')
    .limit(size)
    .execute()
  return rows.map((r) => r.outcome)
}
