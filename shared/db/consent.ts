import { compiler, type Statement } from './statement.js'
import type { Executor } from './database.js'
import type { Consent, ConsentState } from './schema.js'

export async function getConsent(db: Executor, phone: string): Promise<Consent | undefined> {
  return db.selectFrom('consent').selectAll().where('phone', '=', phone).executeTakeFirst()
}

/** Records the latest word on whether a number may be texted, and what said so. */
export function setConsent(
  phone: string,
  /** `consentGiven`: the person also agreed to automated texts (SMS_CONSENT=required); never taken back here. */
  { state, source, consentGiven = false }: { state: ConsentState; source: string; consentGiven?: boolean },
  now = Date.now(),
): Statement {
  const given = consentGiven ? { consent_given: 1 } : {}
  return compiler
    .insertInto('consent')
    .values({ phone, state, source, changed_at: now, ...given })
    .onConflict((oc) => oc.column('phone').doUpdateSet({ state, source, changed_at: now, ...given }))
    .compile()
}
