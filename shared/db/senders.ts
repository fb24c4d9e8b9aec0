import { sql } from 'kysely'
import type { Db, Tx } from './database.js'
import { compiler, type Statement } from './statement.js'

/**
 * Remembers `number` as the customer's sender, unless a newer text already chose one: `at` is when
 * the text that used it was made (a status callback for an older text changes nothing).
 */
export function rememberSender(phone: string, number: string, at: number): Statement {
  return compiler
    .insertInto('customer_senders')
    .values({ phone, number, at })
    .onConflict((oc) => oc.column('phone').doUpdateSet({ number, at }).where('customer_senders.at', '<=', at))
    .compile()
}

/** Our number the customer last used or was last texted from, if any. */
export async function lastSender(db: Db | Tx, phone: string): Promise<string | null> {
  const row = await db.selectFrom('customer_senders').select('number').where('phone', '=', phone).executeTakeFirst()
  return row?.number ?? null
}

/**
 * `rememberSender` for a text just stored, written only when the statement before it changed a row
 * (the job queued for a new text): a redelivered webhook changes nothing, as before.
 */
export function rememberSenderIfNew(phone: string, number: string, at: number): Statement {
  return compiler
    .insertInto('customer_senders')
    .columns(['phone', 'number', 'at'])
    .expression(
      compiler
        .selectNoFrom((eb) => [eb.val(phone).as('phone'), eb.val(number).as('number'), eb.val(at).as('at')])
        .where(sql<number>`changes()`, '=', 1),
    )
    .onConflict((oc) => oc.column('phone').doUpdateSet({ number, at }).where('customer_senders.at', '<=', at))
    .compile()
}
