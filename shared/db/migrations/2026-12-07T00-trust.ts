import { sql, type Kysely } from 'kysely'

// Frozen: a migration describes the database as it was on its date. Change the schema with a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Why a number belongs to its contact: a lead's phone is the visitor's own claim, so a link says
  // how it was made (see server/bridge/trust.ts). Links made before this rule are `legacy`.
  await db.schema
    .alterTable('phone_contacts')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('legacy'))
    .execute()
  // Other contacts that carried the number when the bridge made its own lead for it: shown to the team.
  await db.schema.alterTable('phone_contacts').addColumn('others', 'text').execute()
  // When the bridge's mark (a keyed hash of contact and number) was written on the Intercom contact.
  await db.schema.alterTable('phone_contacts').addColumn('marked_at', 'integer').execute()
  await sql`update phone_contacts set source = 'created' where created_by_bridge = 1`.execute(db)
  await sql`update phone_contacts set source = 'user' where created_by_bridge = 0 and contact_role = 'user'`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('phone_contacts').dropColumn('marked_at').execute()
  await db.schema.alterTable('phone_contacts').dropColumn('others').execute()
  await db.schema.alterTable('phone_contacts').dropColumn('source').execute()
}
