import { compiler, type Statement } from './statement.js'
import type { Executor, Tx } from './database.js'
import type { AutomatedSend, AutomatedSendTable } from './schema.js'

export interface NewAutomatedSend {
  key: string
  kind: AutomatedSendTable['kind']
  contactId: string
  phone: string | null
  body: string | null
  template: string | null
  requestedBy: string
}

/** Records an automated text once for ever: false when one with this key exists. */
export async function insertAutomatedSendOnce(trx: Tx, send: NewAutomatedSend, now = Date.now()): Promise<boolean> {
  const inserted = await trx
    .insertInto('automated_sends')
    .values({
      key: send.key,
      kind: send.kind,
      intercom_contact_id: send.contactId,
      phone: send.phone,
      body: send.body,
      template: send.template,
      status: 'queued',
      requested_by: send.requestedBy,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('key').doNothing())
    .returning('key')
    .executeTakeFirst()
  return inserted !== undefined
}

export async function getAutomatedSend(db: Executor, key: string): Promise<AutomatedSend | undefined> {
  return db.selectFrom('automated_sends').selectAll().where('key', '=', key).executeTakeFirst()
}

/** Ties the send to the text stored for it (from then on a retry finishes that text, never a second). */
export function attachAutomatedMessage(
  key: string,
  { messageId, phone }: { messageId: number; phone: string },
  now = Date.now(),
): Statement {
  return compiler.updateTable('automated_sends').set({ message_id: messageId, phone, updated_at: now }).where('key', '=', key).compile()
}

/** The send's outcome: sent, or skipped with the reason in words the team can read. */
export function settleAutomatedSend(
  key: string,
  outcome: { status: 'sent' | 'skipped'; reason?: string | undefined; phone?: string | null | undefined },
  now = Date.now(),
): Statement {
  return compiler
    .updateTable('automated_sends')
    .set({ status: outcome.status, reason: outcome.reason ?? null, ...(outcome.phone ? { phone: outcome.phone } : {}), updated_at: now })
    .where('key', '=', key)
    .compile()
}

/** Whether this number was already sent a welcome (to whichever contact). */
export async function welcomeSentToPhone(db: Executor, phone: string): Promise<boolean> {
  const row = await db
    .selectFrom('automated_sends')
    .select('key')
    .where('kind', '=', 'welcome')
    .where('phone', '=', phone)
    .where('status', '=', 'sent')
    .executeTakeFirst()
  return row !== undefined
}
