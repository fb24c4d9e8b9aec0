import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A Messenger visitor proving they hold a number: a one-time code, kept only as a keyed hash.
  await db.schema
    .createTable('phone_verifications')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('intercom_contact_id', 'text', (c) => c.notNull())
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sends', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('last_sent_at', 'integer', (c) => c.notNull())
    .addColumn('verified_at', 'integer')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('phone_verifications_contact')
    .on('phone_verifications')
    .columns(['intercom_contact_id', 'created_at'])
    .execute()

  // Texts an outsider can cause (codes, confirmations, welcomes), counted per number, contact and
  // day, so a cap holds across restarts and machines.
  await db.schema
    .createTable('send_counts')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('send_counts_pk', ['scope', 'key', 'day'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('send_counts').execute()
  await db.schema.dropTable('phone_verifications').execute()
}
