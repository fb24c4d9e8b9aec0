import { sql } from 'kysely'
import { migrate, openStore, type Store } from './database.js'

interface SchemaObject {
  type: string
  name: string
  tbl_name: string
  sql: string | null
}

// SQLite writes these itself (ANALYZE, PRAGMA optimize): statistics for the planner, no code.
const STATISTICS = /^sqlite_stat[1-4]$/

/** Every table, index, trigger and view of a database, keyed by type and name, its SQL with spaces normalised. */
async function schemaOf(store: Store): Promise<Map<string, SchemaObject>> {
  const { rows } = await sql<SchemaObject>`select type, name, tbl_name, sql from sqlite_master`.execute(store.db)
  const objects = new Map<string, SchemaObject>()
  for (const row of rows) {
    if (row.type === 'table' && STATISTICS.test(row.name)) continue
    objects.set(`${row.type} '${row.name}'`, { ...row, sql: row.sql?.replace(/\s+/g, ' ').trim() ?? null })
  }
  return objects
}

/**
 * How a database's schema differs from what the migrations create, up to and including `lastApplied`
 * (a fresh in-memory database is migrated to the same point and compared): each difference as a
 * phrase naming the object, none when they match. A trigger or view no migration creates would run
 * its own SQL on the bridge's writes (re-address every text, say), so anything else is a difference.
 */
export async function schemaDifferences(store: Store, lastApplied: string): Promise<string[]> {
  const reference = await openStore({ url: ':memory:' })
  let expected: Map<string, SchemaObject>
  try {
    await migrate(reference, { upTo: lastApplied })
    expected = await schemaOf(reference)
  } finally {
    await reference.close()
  }
  const actual = await schemaOf(store)
  const differences: string[] = []
  for (const [key, object] of actual) {
    const wanted = expected.get(key)
    if (!wanted) differences.push(`it has a ${key} that no migration creates`)
    else if (wanted.tbl_name !== object.tbl_name || wanted.sql !== object.sql)
      differences.push(`its ${key} is not what the migrations create`)
  }
  for (const key of expected.keys()) if (!actual.has(key)) differences.push(`it lacks the ${key} the migrations create`)
  return differences
}
