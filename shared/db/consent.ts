import type { Executor, Tx } from './database.js'
import type { Consent, ConsentState } from './schema.js'

export async function getConsent(db: Executor, phone: string): Promise<Consent | undefined> {
  return db.selectFrom('consent').selectAll().where('phone', '=', phone).executeTakeFirst()
}

/** Records the latest word on whether a number may be texted, and what said so. */
export async function setConsent(trx: Tx, phone: string, state: ConsentState, source: string, now = Date.now()): Promise<void> {
  await trx
    .insertInto('consent')
    .values({ phone, state, source, changed_at: now })
    .onConflict((oc) => oc.column('phone').doUpdateSet({ state, source, changed_at: now }))
    .execute()
}
