import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A text that reads like a request to stop texts without being a keyword: pending until the number
  // opts out (a keyword, Twilio, a teammate) or a teammate says it is not a request. One per text.
  await db.schema
    .createTable('revocation_requests')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('message_id', 'integer', (c) => c.notNull().unique())
    .addColumn('intercom_conversation_id', 'text')
    .addColumn('phrase', 'text', (c) => c.notNull())
    .addColumn('asked_at', 'integer', (c) => c.notNull())
    .addColumn('honour_by', 'text', (c) => c.notNull())
    .addColumn('resolved_at', 'integer')
    .addColumn('resolution', 'text')
    .execute()
  await db.schema
    .createIndex('revocation_requests_pending')
    .on('revocation_requests')
    .column('phone')
    .where(sql.ref('resolved_at'), 'is', null)
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('revocation_requests').execute()
}
