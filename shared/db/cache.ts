import type { Executor, Tx } from './database.js'
import { compiler, type Statement } from './statement.js'

/** A small durable cache for facts learned from the APIs (tag id, admin id, attributes created). */
export async function getCached(db: Executor, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('settings_cache').select('value').where('key', '=', key).executeTakeFirst()
  return row?.value
}

export function setCached(key: string, value: string, now = Date.now()): Statement {
  return compiler
    .insertInto('settings_cache')
    .values({ key, value, updated_at: now })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now }))
    .compile()
}

const UNHANDLED_TOPIC = 'intercom.unhandled_topic.'

/** Counts a webhook topic the app is subscribed to but the bridge does not handle, for `doctor`. */
export async function noteUnhandledTopic(trx: Tx, topic: string, now = Date.now()): Promise<void> {
  const key = `${UNHANDLED_TOPIC}${topic}`
  const seen = await trx.selectFrom('settings_cache').select('value').where('key', '=', key).executeTakeFirst()
  const before = JSON.parse(seen?.value ?? '{}') as { count?: unknown }
  const count = (Number(before.count) || 0) + 1
  await trx.executeQuery(setCached(key, JSON.stringify({ count, last: now }), now))
}

/** The unhandled topics seen, with how often and when last. */
export async function unhandledTopics(db: Executor): Promise<Array<{ topic: string; count: number; last: number }>> {
  const rows = await db
    .selectFrom('settings_cache')
    .select(['key', 'value'])
    .where('key', 'like', `${UNHANDLED_TOPIC}%`)
    .orderBy('key')
    .execute()
  return rows.map((r) => {
    const v = JSON.parse(r.value) as { count: number; last: number }
    return { topic: r.key.slice(UNHANDLED_TOPIC.length), count: v.count, last: v.last }
  })
}
