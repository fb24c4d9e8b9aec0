import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A database that has never stored a text nor caught up (a first start, a new volume, a staging
  // copy) marks when it began: the catch-up takes nothing older from Twilio's log, which is history
  // another database may already have put into Intercom. `sms-bridge catchup --since` moves it back.
  // The keys are the catch-up's (server/bridge/catchup.ts), written out here as they were on this date.
  const now = Date.now()
  await sql`
    insert into settings_cache (key, value, updated_at)
    select 'twilio.catchup.floor', ${String(now)}, ${now}
    where not exists (select 1 from messages)
      and not exists (select 1 from settings_cache where key = 'twilio.catchup.since')`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from settings_cache where key = 'twilio.catchup.floor'`.execute(db)
}
