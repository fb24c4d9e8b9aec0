import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Our number a customer last wrote to or was last texted from, per customer number (not per
  // contact or conversation: a merged or re-created contact keeps it). `at` is when that text was
  // made, so a late status callback of an older text cannot undo a newer choice.
  await db.schema
    .createTable('customer_senders')
    .addColumn('phone', 'text', (c) => c.primaryKey())
    .addColumn('number', 'text', (c) => c.notNull())
    .addColumn('at', 'integer', (c) => c.notNull())
    .execute()
  // What the SMS conversations already knew (the number each customer last texted), so an upgrade
  // keeps every customer on their number. SQLite takes the bare column from the row of max().
  await sql`
    insert into customer_senders (phone, number, at)
    select phone, twilio_number, max(updated_at) from sms_conversations
    where twilio_number like '+%' group by phone`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('customer_senders').execute()
}
