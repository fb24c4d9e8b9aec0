import type { Executor, Tx } from './database.js'
import type { HeldMedia } from './schema.js'

/** Keeps a copy of a file fetched from an expiring link; returns its id. */
export async function insertHeldMedia(trx: Tx, m: { sourceUrl: string; contentType: string; name: string; bytes: Uint8Array }, now = Date.now()): Promise<number> {
  const row = await trx
    .insertInto('held_media')
    .values({ source_url: m.sourceUrl, content_type: m.contentType, name: m.name, bytes: m.bytes, created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

/** The copy already made of this link (a retried reply fetches nothing twice). */
export async function findHeldMediaBySource(db: Executor, sourceUrl: string): Promise<Pick<HeldMedia, 'id' | 'content_type' | 'name' | 'created_at'> | undefined> {
  return db.selectFrom('held_media').select(['id', 'content_type', 'name', 'created_at']).where('source_url', '=', sourceUrl).orderBy('id', 'desc').executeTakeFirst()
}

export async function getHeldMedia(db: Executor, id: number): Promise<HeldMedia | undefined> {
  return db.selectFrom('held_media').selectAll().where('id', '=', id).executeTakeFirst()
}

/** Deletes copies older than `before`, at most `limit` of them; says how many went. */
export async function pruneHeldMedia(trx: Tx, before: number, limit: number): Promise<number> {
  const result = await trx
    .deleteFrom('held_media')
    .where(({ eb, selectFrom }) => eb('id', 'in', selectFrom('held_media').select('id').where('created_at', '<', before).limit(limit)))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
