import { compiler, type Statement } from './statement.js'
import { sql } from 'kysely'
import type { Executor, Tx } from './database.js'
import type { PhoneVerification } from './schema.js'

export async function insertVerification(
  trx: Tx,
  v: { contactId: string; phone: string; codeHash: string; expiresAt: number },
  now: number,
): Promise<number> {
  const row = await trx
    .insertInto('phone_verifications')
    .values({
      intercom_contact_id: v.contactId,
      phone: v.phone,
      code_hash: v.codeHash,
      expires_at: v.expiresAt,
      attempts: 0,
      sends: 1,
      last_sent_at: now,
      verified_at: null,
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

export async function getVerification(db: Executor, id: number): Promise<PhoneVerification | undefined> {
  return db.selectFrom('phone_verifications').selectAll().where('id', '=', id).executeTakeFirst()
}

/** A new code for the same verification (a resend): a fresh hash, expiry and set of tries. */
export function renewVerification(id: number, codeHash: string, expiresAt: number, now: number): Statement {
  return compiler
    .updateTable('phone_verifications')
    .set((eb) => ({ code_hash: codeHash, expires_at: expiresAt, attempts: 0, sends: eb('sends', '+', 1), last_sent_at: now }))
    .where('id', '=', id)
    .compile()
}

/** Counts one try; returns the row as it was before it, or undefined. */
export async function countTry(trx: Tx, id: number): Promise<PhoneVerification | undefined> {
  const before = await trx.selectFrom('phone_verifications').selectAll().where('id', '=', id).executeTakeFirst()
  if (before)
    await trx
      .updateTable('phone_verifications')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', id)
      .execute()
  return before
}

export async function markVerified(trx: Tx, id: number, now: number): Promise<void> {
  await trx.updateTable('phone_verifications').set({ verified_at: now }).where('id', '=', id).execute()
}

/** Deletes up to `limit` verifications that expired before `before` (each holds a number); returns how many. */
export async function pruneVerifications(trx: Tx, before: number, limit: number): Promise<number> {
  const result = await trx
    .deleteFrom('phone_verifications')
    .where((eb) =>
      eb(
        sql.ref('rowid'),
        'in',
        eb.selectFrom('phone_verifications').select(sql.ref('rowid').as('rowid')).where('expires_at', '<', before).limit(limit),
      ),
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
