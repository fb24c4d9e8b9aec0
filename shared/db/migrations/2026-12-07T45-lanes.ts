import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

/** The tasks of each lane on this date, other than inbound (server/queue/lanes.ts and each task's definition). */
const REPLY_TASKS = ['outbound.reply', 'outbound.notify_failure', 'canvas.send', 'canvas.note', 'contact.save_phone']
const AUTOMATED_TASKS = [
  'automated.send',
  'automated.note',
  'contact.mark',
  'contact.merge',
  'contact.sms_attributes',
  'privacy.redact',
  'scheduled.send',
  'scheduled.note',
]
const BULK_TASKS = ['broadcast.expand', 'broadcast.dispatch']

export async function up(db: Kysely<unknown>): Promise<void> {
  // A job's lane (0 reply, 1 inbound, 2 automated, 3 bulk): the claim takes the first lane's due jobs
  // first. Any job a rolled-back version queues (it does not know the column) is inbound, the order
  // jobs ran in before.
  await db.schema
    .alterTable('jobs')
    .addColumn('lane', 'integer', (c) => c.notNull().defaultTo(1))
    .execute()
  // Jobs already queued (an upgrade during an Intercom outage finds a backlog) take their task's lane,
  // so a teammate's reply queued before the upgrade does not wait behind that backlog after it.
  const list = (tasks: string[]) => sql.join(tasks.map((task) => sql.lit(task)))
  await sql`UPDATE jobs SET lane = CASE
    WHEN task IN (${list(REPLY_TASKS)}) THEN 0
    WHEN task IN (${list(AUTOMATED_TASKS)}) THEN 2
    WHEN task IN (${list(BULK_TASKS)}) THEN 3
    ELSE 1 END`.execute(db)
  // The claim walks each lane's due jobs in run order and stops at its limit, as jobs_due does for all.
  await db.schema.createIndex('jobs_lane_due').on('jobs').columns(['state', 'lane', 'run_at', 'id']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_lane_due').execute()
  await sql`ALTER TABLE jobs DROP COLUMN lane`.execute(db)
}
