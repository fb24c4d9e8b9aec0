import type { Executor, Tx } from './database.js'
import type { Consent, ConsentState } from './schema.js'

export async function getConsent(db: Executor, phone: string): Promise<Consent | undefined> {
  return db.selectFrom('consent').selectAll().where('phone', '=', phone).executeTakeFirst()
}

/** Records the latest word on whether a number may be texted, and what said so. */
export async function setConsent(
  trx: Tx,
  phone: string,
  state: ConsentState,
  source: string,
  now = Date.now(),
  /** The person also agreed to automated texts (SMS_CONSENT=required); never taken back here. */
  consentGiven = false,
): Promise<void> {
  const given = consentGiven ? { consent_given: 1 } : {}
  await trx
    .insertInto('consent')
    .values({ phone, state, source, changed_at: now, ...given })
    .onConflict((oc) => oc.column('phone').doUpdateSet({ state, source, changed_at: now, ...given }))
    .execute()
}
