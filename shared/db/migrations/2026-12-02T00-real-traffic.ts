import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Every conversation the bridge has threaded texts into, not only each contact's newest: a teammate
  // may still answer in an older one, and that answer must reach the phone too.
  await db.schema
    .createTable('sms_conversation_links')
    .addColumn('intercom_conversation_id', 'text', (c) => c.primaryKey())
    .addColumn('intercom_contact_id', 'text', (c) => c.notNull())
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('twilio_number', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  await sql`INSERT INTO sms_conversation_links (intercom_conversation_id, intercom_contact_id, phone, twilio_number, created_at, updated_at)
    SELECT intercom_conversation_id, intercom_contact_id, phone, twilio_number, created_at, updated_at FROM sms_conversations`.execute(db)

  // When Intercom last said the conversation was open or closed (epoch ms), so a notification that
  // arrives late cannot undo a newer state.
  await db.schema.alterTable('sms_conversations').addColumn('state_at', 'integer').execute()

  // Teammates' pictures and files, fetched from Intercom's upload links (which expire after about
  // half an hour) and served to Twilio from here, so a text sent late still carries them.
  await db.schema
    .createTable('held_media')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('source_url', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('bytes', 'blob', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('held_media_created').on('held_media').column('created_at').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('held_media').execute()
  await db.schema.alterTable('sms_conversations').dropColumn('state_at').execute()
  await db.schema.dropTable('sms_conversation_links').execute()
}
