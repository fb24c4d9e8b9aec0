import type { Executor, Tx } from './database.js'
import { compiler, type Statement } from './statement.js'

export interface QuickReplyOption {
  text: string
  uuid: string
}

/** Records the options a quick reply was texted with (once per part: a retried job changes nothing). */
export async function recordQuickReply(
  trx: Tx,
  q: { partId: string; conversationId: string; options: QuickReplyOption[] },
  now = Date.now(),
): Promise<void> {
  await trx
    .insertInto('quick_replies')
    .values({
      part_id: q.partId,
      intercom_conversation_id: q.conversationId,
      options: JSON.stringify(q.options.map(({ text, uuid }) => ({ text, uuid }))),
      asked_at: now,
      settled_at: null,
    })
    .onConflict((oc) => oc.column('part_id').doNothing())
    .execute()
}

/** The newest quick reply in a conversation that the customer has not texted after, with its options. */
export async function openQuickReply(
  db: Executor,
  conversationId: string,
): Promise<{ partId: string; options: QuickReplyOption[] } | undefined> {
  const row = await db
    .selectFrom('quick_replies')
    .select(['part_id', 'options', 'settled_at'])
    .where('intercom_conversation_id', '=', conversationId)
    .orderBy('asked_at', 'desc')
    .orderBy('part_id', 'desc')
    .limit(1)
    .executeTakeFirst()
  if (!row || row.settled_at !== null) return undefined
  return { partId: row.part_id, options: JSON.parse(row.options) as QuickReplyOption[] }
}

/** The customer texted after the question: it is settled, answered or not. */
export function settleQuickReply(partId: string, now = Date.now()): Statement {
  return compiler
    .updateTable('quick_replies')
    .set({ settled_at: now })
    .where('part_id', '=', partId)
    .where('settled_at', 'is', null)
    .compile()
}
