import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per text the team did not type one by one (welcome, Series step): the once-only record.
  await db.schema
    .createTable('automated_sends')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('intercom_contact_id', 'text', (c) => c.notNull())
    .addColumn('phone', 'text')
    .addColumn('body', 'text')
    .addColumn('template', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('message_id', 'integer')
    .addColumn('requested_by', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('automated_sends_contact').on('automated_sends').columns(['intercom_contact_id', 'kind']).execute()
  await db.schema.createIndex('automated_sends_phone').on('automated_sends').columns(['phone', 'kind']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('automated_sends').execute()
}
