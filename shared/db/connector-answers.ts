import type { Executor, Tx } from './database.js'

/**
 * A data connector's first answer for a run, kept so a redelivery answers the same (the durable
 * key-value table `settings_cache`; the answer holds a result, a reason code and a time, nothing
 * personal). The text itself is once-only through its automated send, whose key is the same.
 */
const PREFIX = 'connector.answer.'
/** The first key past every key that starts with PREFIX ('/' follows '.'). */
const PREFIX_END = 'connector.answer/'

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

/**
 * Removes answers kept for longer than any redelivery of their run (`before`), `limit` at a time;
 * returns how many went. Only this table's answers: the range of their keys, walked on its index.
 */
export async function pruneConnectorAnswers(trx: Tx, before: number, limit: number): Promise<number> {
  const result = await trx
    .deleteFrom('settings_cache')
    .where((eb) =>
      eb(
        'key',
        'in',
        eb
          .selectFrom('settings_cache')
          .select('key')
          .where('key', '>=', PREFIX)
          .where('key', '<', PREFIX_END)
          .where('updated_at', '<', before)
          .limit(limit),
      ),
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
