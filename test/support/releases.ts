import type { Kysely, Migration } from 'kysely'
import type { Release } from '../../shared/db/database.js'
import { migrationProvider } from '../../shared/db/migrations/index.js'

/** The name of the one migration a newer build adds. */
export const FUTURE_MIGRATION = '2099-01-01T00-future'

/** A newer build, as migrations see it: this one's migrations and one more, which adds a table. */
export async function newerRelease(version: string): Promise<Release> {
  const future: Migration = {
    up: async (db: Kysely<unknown>) => {
      await db.schema
        .createTable('future_things')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .execute()
    },
  }
  return { version, migrations: { ...(await migrationProvider.getMigrations()), [FUTURE_MIGRATION]: future } }
}
