import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A quick reply texted to a customer with its buttons numbered: the options sent (JSON), so the
  // customer's next text can be posted as the button it names; settled by that next text.
  await db.schema
    .createTable('quick_replies')
    .addColumn('part_id', 'text', (c) => c.primaryKey())
    .addColumn('intercom_conversation_id', 'text', (c) => c.notNull())
    .addColumn('options', 'text', (c) => c.notNull())
    .addColumn('asked_at', 'integer', (c) => c.notNull())
    .addColumn('settled_at', 'integer')
    .execute()
  await db.schema.createIndex('quick_replies_conversation').on('quick_replies').columns(['intercom_conversation_id', 'asked_at']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('quick_replies').execute()
}
