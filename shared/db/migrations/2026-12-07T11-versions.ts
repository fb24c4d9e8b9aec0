import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Which release migrated this database, and the migrations that release knew: an older release
  // that finds migrations it does not know reads here which release to run, or to roll back from.
  await db.schema
    .createTable('bridge_versions')
    .addColumn('version', 'text', (c) => c.primaryKey())
    .addColumn('migrations', 'text', (c) => c.notNull())
    .addColumn('migrated_at', 'integer', (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('bridge_versions').execute()
}
