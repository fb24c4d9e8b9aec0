import type { Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Twilio's SMS prices per destination country (Pricing API), kept a day and past a failed refresh,
  // so an estimate never waits on Twilio twice a day and survives a restart or an outage.
  await db.schema
    .createTable('prices')
    .addColumn('iso_country', 'text', (c) => c.primaryKey())
    // Null when Twilio has no prices for the country (it answered 404).
    .addColumn('price_unit', 'text')
    // JSON: number type -> price of one segment, a decimal string.
    .addColumn('outbound', 'text', (c) => c.notNull())
    .addColumn('fetched_at', 'integer', (c) => c.notNull())
    .addColumn('failed_at', 'integer')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('prices').execute()
}
