import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Every consent change with what caused it: the ledger a team shows a regulator. Rows are only
  // appended; the `consent` table keeps the latest word per number.
  await db.schema
    .createTable('consent_events')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('consent_given', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('text', 'text')
    .addColumn('message_sid', 'text')
    .addColumn('number', 'text')
    .addColumn('actor', 'text')
    .addColumn('conversation_id', 'text')
    .addColumn('contact_id', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('consent_events_phone').on('consent_events').columns(['phone', 'id']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('consent_events').execute()
}
