import type { Executor, Tx } from './database.js'

/**
 * A data connector's first answer for a run, kept so a redelivery answers the same (the durable
 * key-value table `settings_cache`; the answer holds a result, a reason code and a time, nothing
 * personal). The text itself is once-only through its automated send, whose key is the same.
 */
const PREFIX = 'connector.answer.'

export async function getConnectorAnswer<A>(db: Executor, key: string): Promise<A | undefined> {
  const row = await db.selectFrom('settings_cache').select('value').where('key', '=', `${PREFIX}${key}`).executeTakeFirst()
  return row ? (JSON.parse(row.value) as A) : undefined
}

/** Keeps `answer` unless the run already has one; answers whichever is kept, and whether it was this one. */
export async function connectorAnswerOnce<A>(trx: Tx, key: string, answer: A, now: number): Promise<{ answer: A; first: boolean }> {
  const inserted = await trx
    .insertInto('settings_cache')
    .values({ key: `${PREFIX}${key}`, value: JSON.stringify(answer), updated_at: now })
    .onConflict((oc) => oc.column('key').doNothing())
    .returning('key')
    .executeTakeFirst()
  if (inserted) return { answer, first: true }
  return { answer: (await getConnectorAnswer<A>(trx, key))!, first: false }
}
