import { sql } from 'kysely'
import type { Executor, Tx } from './database.js'

/** Records that a webhook was accepted; false when this key was seen before (a redelivery). */
export async function recordReceipt(trx: Tx, source: string, key: string, now = Date.now()): Promise<boolean> {
  const inserted = await trx
    .insertInto('webhook_receipts')
    .values({ source, key, received_at: now })
    .onConflict((oc) => oc.doNothing())
    .returning('key')
    .executeTakeFirst()
  return Boolean(inserted)
}

/**
 * Deletes receipts older than `before` (epoch ms), at most `limit` of them, and says how many went.
 * A redelivery comes within hours: a receipt older than that only takes space.
 */
export async function pruneReceipts(trx: Tx, before: number, limit: number): Promise<number> {
  const result = await trx
    .deleteFrom('webhook_receipts')
    .where((eb) =>
      eb(
        sql.ref('rowid'),
        'in',
        eb.selectFrom('webhook_receipts').select(sql.ref('rowid').as('rowid')).where('received_at', '<', before).limit(limit),
      ),
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** When a webhook from this source was last accepted, or null. */
export async function lastReceiptAt(db: Executor, source: string): Promise<number | null> {
  const row = await db
    .selectFrom('webhook_receipts')
    .select((eb) => eb.fn.max('received_at').as('last'))
    .where('source', '=', source)
    .executeTakeFirst()
  return row?.last ?? null
}
