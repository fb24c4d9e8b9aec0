import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per sender (an E.164 number, a short code, a Messaging Service SID) and one for the
  // brand ('*'): the next free send slot, the last slot promised to a waiting text, the day's count
  // and a pause. Read and written in one transaction per slot, so processes sharing it share the rate.
  await db.schema
    .createTable('sender_pacing')
    .addColumn('sender', 'text', (c) => c.primaryKey())
    .addColumn('next_at', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('promised_until', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('day', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('day_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('paused_at', 'integer')
    .addColumn('paused_why', 'text')
    .addColumn('paused_detail', 'text')
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  // Each automated or bulk text, by sender, with what became of it: the window the spike detector reads.
  await db.schema
    .createTable('paced_texts')
    .addColumn('message_id', 'integer', (c) => c.primaryKey())
    .addColumn('sender', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('paced_texts_sender').on('paced_texts').columns(['sender', 'message_id']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('paced_texts').execute()
  await db.schema.dropTable('sender_pacing').execute()
}
