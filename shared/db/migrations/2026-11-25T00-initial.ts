import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('phone_contacts')
    .addColumn('phone', 'text', (c) => c.primaryKey())
    .addColumn('intercom_contact_id', 'text', (c) => c.notNull())
    .addColumn('contact_role', 'text')
    .addColumn('created_by_bridge', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('phone_contacts_contact').on('phone_contacts').column('intercom_contact_id').execute()

  await db.schema
    .createTable('sms_conversations')
    .addColumn('intercom_contact_id', 'text', (c) => c.primaryKey())
    .addColumn('intercom_conversation_id', 'text', (c) => c.notNull())
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('twilio_number', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('sms_conversations_conversation').on('sms_conversations').column('intercom_conversation_id').execute()

  await db.schema
    .createTable('messages')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('inbound', 'outbound')`))
    .addColumn('twilio_sid', 'text', (c) => c.unique())
    .addColumn('intercom_conversation_id', 'text')
    .addColumn('intercom_contact_id', 'text')
    .addColumn('intercom_part_id', 'text')
    .addColumn('part_index', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('twilio_number', 'text')
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('media', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('num_segments', 'integer')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error_code', 'integer')
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('messages_phone').on('messages').columns(['phone', 'created_at']).execute()
  await db.schema.createIndex('messages_contact').on('messages').columns(['intercom_contact_id', 'created_at']).execute()
  // One outbound text per (conversation part, chunk): a redelivered reply can never be queued twice.
  await db.schema
    .createIndex('messages_part')
    .on('messages')
    .columns(['direction', 'intercom_part_id', 'part_index'])
    .unique()
    .where(sql.ref('intercom_part_id'), 'is not', null)
    .execute()

  await db.schema
    .createTable('webhook_receipts')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('received_at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_receipts_pk', ['source', 'key'])
    .execute()

  await db.schema
    .createTable('consent')
    .addColumn('phone', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('opted_in', 'opted_out')`))
    .addColumn('consent_given', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('changed_at', 'integer', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('task', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.unique())
    .addColumn('queue_key', 'text')
    .addColumn('state', 'text', (c) =>
      c
        .notNull()
        .defaultTo('waiting')
        .check(sql`state in ('waiting', 'running', 'dead')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('run_at', 'integer', (c) => c.notNull())
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('jobs_due').on('jobs').columns(['state', 'run_at', 'id']).execute()
  // The head of each ordering queue is found through this index.
  await db.schema.createIndex('jobs_queue').on('jobs').columns(['queue_key', 'id']).where(sql.ref('queue_key'), 'is not', null).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['jobs', 'consent', 'webhook_receipts', 'messages', 'sms_conversations', 'phone_contacts']) {
    await db.schema.dropTable(table).execute()
  }
}
