import type { Executor, Store } from './database.js'

/** A small durable cache for facts learned from the APIs (tag id, admin id, attributes created). */
export async function getCached(db: Executor, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('settings_cache').select('value').where('key', '=', key).executeTakeFirst()
  return row?.value
}

export async function setCached(store: Store, key: string, value: string): Promise<void> {
  const now = Date.now()
  await store.write((trx) =>
    trx
      .insertInto('settings_cache')
      .values({ key, value, updated_at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now }))
      .execute(),
  )
}
