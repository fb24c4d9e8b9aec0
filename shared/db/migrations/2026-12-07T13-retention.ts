import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // When a text's words and media links were removed (MESSAGE_RETENTION_DAYS, or an erasure): the
  // row stays for what dedupes it (its MessageSid) and the counts, and says it no longer has them.
  await db.schema.alterTable('messages').addColumn('redacted_at', 'integer').execute()
  // The daily clean-up finds the oldest texts that still have their words, a batch at a time.
  await db.schema.createIndex('messages_unredacted').on('messages').column('created_at').where(sql.ref('redacted_at'), 'is', null).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_unredacted').execute()
  await db.schema.alterTable('messages').dropColumn('redacted_at').execute()
}
