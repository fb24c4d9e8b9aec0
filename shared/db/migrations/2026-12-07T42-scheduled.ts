import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A text a teammate scheduled for later, in the customer's time: waits in the bridge's own queue
  // (a job per row, run at send_at) and is checked again when it goes.
  await db.schema
    .createTable('scheduled_texts')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('intercom_contact_id', 'text', (c) => c.notNull())
    .addColumn('intercom_conversation_id', 'text')
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('send_at', 'integer', (c) => c.notNull())
    .addColumn('time_zone', 'text', (c) => c.notNull())
    .addColumn('choice', 'text', (c) => c.notNull())
    .addColumn('admin_id', 'text')
    .addColumn('admin_name', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('message_id', 'integer')
    .addColumn('held_at', 'integer')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('scheduled_texts_open')
    .on('scheduled_texts')
    .columns(['phone', 'state'])
    .where(sql.ref('state'), 'in', sql`('scheduled', 'held')`)
    .execute()
  await db.schema.createIndex('scheduled_texts_contact').on('scheduled_texts').columns(['intercom_contact_id', 'send_at']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('scheduled_texts').execute()
}
