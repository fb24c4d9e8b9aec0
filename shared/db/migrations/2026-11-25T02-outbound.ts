import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Set just before Twilio is asked to send: a message with it but no sid may already have been
  // created by Twilio, so a retry looks before it sends again.
  await db.schema.alterTable('messages').addColumn('send_attempted_at', 'integer').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('send_attempted_at').execute()
}
