import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A job's lane (0 reply, 1 inbound, 2 automated, 3 bulk): the claim takes the first lane's due jobs
  // first. Jobs queued before this migration, and any a rolled-back version queues (it does not know
  // the column), are inbound, the order they ran in before.
  await db.schema
    .alterTable('jobs')
    .addColumn('lane', 'integer', (c) => c.notNull().defaultTo(1))
    .execute()
  // The claim walks each lane's due jobs in run order and stops at its limit, as jobs_due does for all.
  await db.schema.createIndex('jobs_lane_due').on('jobs').columns(['state', 'lane', 'run_at', 'id']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_lane_due').execute()
  await sql`ALTER TABLE jobs DROP COLUMN lane`.execute(db)
}
