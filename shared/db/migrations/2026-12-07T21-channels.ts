import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Which channel carried a text to the customer (rcs, sms, whatsapp), as Twilio's status callbacks
  // name it by their From; null until one says.
  await db.schema.alterTable('messages').addColumn('channel', 'text').execute()
  // A Messaging Service that could not deliver a text by RCS sends it again by SMS as a new message
  // with its own MessageSid: that SID, so the fallback's statuses update the text the team sees.
  await db.schema.alterTable('messages').addColumn('fallback_sid', 'text').execute()
  await db.schema
    .createIndex('messages_fallback_sid')
    .unique()
    .on('messages')
    .column('fallback_sid')
    .where(sql.ref('fallback_sid'), 'is not', null)
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_fallback_sid').execute()
  await db.schema.alterTable('messages').dropColumn('fallback_sid').execute()
  await db.schema.alterTable('messages').dropColumn('channel').execute()
}
