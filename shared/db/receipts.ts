import type { Tx } from './database.js'

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
