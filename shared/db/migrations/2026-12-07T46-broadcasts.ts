import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // One text to many contacts: its audience, template, purpose and time, and how far it got.
  await db.schema
    .createTable('broadcasts')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('audience_kind', 'text', (c) => c.notNull())
    .addColumn('audience_ref', 'text')
    .addColumn('template', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('send_at', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('cursor', 'text')
    .addColumn('pages', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unmatched', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failure', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('confirmed_at', 'integer')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  // One row per contact of the audience, written a page at a time: excluded (and why), pending with
  // its rendered text and estimate, or released (handed to automated_sends, which sends it once).
  await db.schema
    .createTable('broadcast_recipients')
    .addColumn('broadcast_id', 'integer', (c) => c.notNull())
    .addColumn('intercom_contact_id', 'text', (c) => c.notNull())
    .addColumn('phone', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('body', 'text')
    .addColumn('segments', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('encoding', 'text')
    .addColumn('cost', 'real')
    .addColumn('cost_unit', 'text')
    .addColumn('time_zone', 'text')
    .addColumn('not_before', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('broadcast_recipients_pk', ['broadcast_id', 'intercom_contact_id'])
    .execute()
  await db.schema
    .createIndex('broadcast_recipients_due')
    .on('broadcast_recipients')
    .columns(['broadcast_id', 'state', 'not_before'])
    .execute()
  await db.schema.createIndex('broadcast_recipients_phone').on('broadcast_recipients').columns(['phone']).execute()
  await db.schema.createIndex('broadcast_recipients_contact').on('broadcast_recipients').columns(['intercom_contact_id']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('broadcast_recipients').execute()
  await db.schema.dropTable('broadcasts').execute()
}
