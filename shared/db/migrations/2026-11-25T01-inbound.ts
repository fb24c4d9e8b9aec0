import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Set when Intercom tells us the conversation was closed, cleared when a text reopens it.
  await db.schema.alterTable('sms_conversations').addColumn('closed_at', 'integer').execute()

  // Small facts learned from the APIs and kept across restarts: the tag id, the admin id, ...
  await db.schema
    .createTable('settings_cache')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('settings_cache').execute()
  await db.schema.alterTable('sms_conversations').dropColumn('closed_at').execute()
}
