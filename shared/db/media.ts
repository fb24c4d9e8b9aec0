import { sql } from 'kysely'
import type { Executor, Tx } from './database.js'
import type { HeldMedia } from './schema.js'

/** Keeps a copy of a file fetched from an expiring link; returns its id. */
export async function insertHeldMedia(
  trx: Tx,
  m: { sourceUrl: string; contentType: string; name: string; bytes: Uint8Array },
  now = Date.now(),
): Promise<number> {
  const row = await trx
    .insertInto('held_media')
    .values({ source_url: m.sourceUrl, content_type: m.contentType, name: m.name, bytes: m.bytes, created_at: now })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

/** The copy already made of this link (a retried reply fetches nothing twice). */
export async function findHeldMediaBySource(
  db: Executor,
  sourceUrl: string,
): Promise<Pick<HeldMedia, 'id' | 'content_type' | 'name' | 'created_at'> | undefined> {
  return db
    .selectFrom('held_media')
    .select(['id', 'content_type', 'name', 'created_at'])
    .where('source_url', '=', sourceUrl)
    .orderBy('id', 'desc')
    .executeTakeFirst()
}

/** A held file's type, name and size in bytes, without its bytes. */
export async function getHeldMediaInfo(
  db: Executor,
  id: number,
): Promise<(Pick<HeldMedia, 'content_type' | 'name'> & { size: number }) | undefined> {
  const row = await db
    .selectFrom('held_media')
    .select(['content_type', 'name', sql<number>`length(bytes)`.as('size')])
    .where('id', '=', id)
    .executeTakeFirst()
  return row && { ...row, size: Number(row.size) }
}

/** `length` bytes of a held file from `offset` (fewer at its end; none once it is pruned). */
export async function heldMediaSlice(db: Executor, id: number, offset: number, length: number): Promise<Uint8Array> {
  const row = await db
    .selectFrom('held_media')
    .select(sql<Uint8Array>`substr(bytes, ${offset + 1}, ${length})`.as('chunk'))
    .where('id', '=', id)
    .executeTakeFirst()
  return row ? new Uint8Array(row.chunk) : new Uint8Array(0)
}

/** Deletes copies older than `before`, at most `limit` of them; says how many went. */
export async function pruneHeldMedia(trx: Tx, before: number, limit: number): Promise<number> {
  const result = await trx
    .deleteFrom('held_media')
    .where((eb) => eb('id', 'in', eb.selectFrom('held_media').select('id').where('created_at', '<', before).limit(limit)))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
