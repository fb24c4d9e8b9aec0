import { compiler, type Statement } from './statement.js'
import type { Tx } from './database.js'
import type { SendCountTable } from './schema.js'

type Budget = Pick<SendCountTable, 'scope' | 'key'>

/** Today's counts (`day` is a UTC date, YYYY-MM-DD) for these budgets; missing ones are 0. */
export async function sendCounts(trx: Tx, day: string, budgets: Budget[]): Promise<number[]> {
  const rows = await trx
    .selectFrom('send_counts')
    .select(['scope', 'key', 'count'])
    .where('day', '=', day)
    .where((eb) => eb.or(budgets.map((b) => eb.and([eb('scope', '=', b.scope), eb('key', '=', b.key)]))))
    .execute()
  return budgets.map((b) => rows.find((r) => r.scope === b.scope && r.key === b.key)?.count ?? 0)
}

export async function countSend(trx: Tx, day: string, budgets: Budget[]): Promise<void> {
  for (const b of budgets) {
    await trx
      .insertInto('send_counts')
      .values({ scope: b.scope, key: b.key, day, count: 1 })
      .onConflict((oc) => oc.columns(['scope', 'key', 'day']).doUpdateSet((eb) => ({ count: eb('send_counts.count', '+', 1) })))
      .execute()
  }
}

/** Deletes the counts of days before `day`: only today's matter. */
export function pruneSendCounts(day: string): Statement {
  return compiler.deleteFrom('send_counts').where('day', '<', day).compile()
}
