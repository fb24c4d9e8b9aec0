// Issue 24, point 2: moving from the embedded file to Turso is `sms-bridge backup`, Turso's import of
// that file (`turso db import`), and DATABASE_URL pointed at it. Here the backup is served by the
// loopback libSQL server stand-in, as Turso serves an imported file, and the app runs on it.
import t from 'tap'
import { closeSync, copyFileSync, existsSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { startLibsqlServerStandIn } from '../../sandbox/libsql-server.js'
import { openStore, pendingMigrations, type Store } from '../../shared/db/database.js'
import { tempDir } from '../support/db.js'
import { textsInIntercom } from '../support/traffic.js'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, type TestApp } from '../helper.js'

const WELCOME = 'Hi {{first_name|there}}, welcome to Acme! Reply here any time.'
const ANA = '+14155550123'
const BO = '+14155550188'
const CY = '+14155550111'

async function texts(ctx: TestApp, from: string, body: string) {
  t.equal((await postSms(ctx, inboundForm(ctx, { From: from, Body: body }))).statusCode, 200)
}

async function userCreated(ctx: TestApp, phone: string, email: string) {
  const contact = ctx.intercom.addContact({ role: 'user', email, external_id: email, phone })
  t.equal((await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', contact.id))).statusCode, 200)
  await drain(ctx.app)
}

/** What a move must keep: links, conversations, consent, welcome-once records, the queue (recurring jobs aside). */
async function records(store: Store) {
  const db = store.db
  return {
    links: await db.selectFrom('phone_contacts').selectAll().orderBy('phone').execute(),
    conversations: await db.selectFrom('sms_conversations').selectAll().orderBy('intercom_contact_id').execute(),
    consent: await db.selectFrom('consent').selectAll().orderBy('phone').execute(),
    welcomes: await db.selectFrom('automated_sends').selectAll().orderBy('key').execute(),
    messages: await db.selectFrom('messages').select(['id', 'direction', 'phone', 'body', 'intercom_part_id']).orderBy('id').execute(),
    queued: await db
      .selectFrom('jobs')
      .select(['id', 'task', 'payload', 'state'])
      .where('task', 'not like', 'maintenance.%')
      .where('task', '!=', 'inbound.catchup')
      .orderBy('id')
      .execute(),
  }
}

/** SQLite's header says WAL when bytes 18 and 19 are 2 (Turso's import asks for a file in WAL mode). */
function inWalMode(file: string): boolean {
  const header = Buffer.alloc(20)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, header, 0, 20, 0)
  } finally {
    closeSync(fd)
  }
  return header[18] === 2 && header[19] === 2
}

t.test('2. a backup served as a remote database keeps links, consent, welcome-once records and the queue', async (t) => {
  const dir = tempDir(t)
  const embedded = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME, DATABASE_URL: `file:${join(dir, 'bridge.db')}` } })
  await texts(embedded, ANA, 'hello')
  await texts(embedded, BO, 'STOP')
  await drain(embedded.app)
  await userCreated(embedded, CY, 'cy@example.com')
  // The worker stops (the service is being moved); a text arrives meanwhile and waits in the queue.
  await embedded.app.worker.stop()
  await texts(embedded, ANA, 'are you there?')
  const backup = join(dir, 'backup.db')
  await embedded.app.store.backup(backup)
  const before = await records(embedded.app.store)
  t.equal(before.links.length, 2)
  t.match(before.consent, [{ phone: BO }])
  t.match(before.welcomes, [{ kind: 'welcome', phone: CY, status: 'sent' }])
  t.match(before.queued, [{ task: 'inbound.deliver', state: 'waiting' }])
  t.ok(inWalMode(backup), 'the backup is in WAL mode, as `turso db import` asks')
  t.notOk(existsSync(`${backup}-wal`) || existsSync(`${backup}-shm`), 'and one whole file')
  await embedded.app.close()

  // Turso's import keeps the file as it is; the stand-in serves a copy of it over Hrana, as Turso does.
  const served = join(dir, 'turso.db')
  copyFileSync(backup, served)
  const server = await startLibsqlServerStandIn({ path: served })
  t.teardown(() => server.close())
  const remote = await openStore({ url: server.url, authToken: server.authToken })
  t.same(await pendingMigrations(remote), [], 'no migration left to apply')
  t.same(await records(remote), before, 'every record, as it was')
  await remote.close()

  const moved = await buildTestApp(t, {
    env: { WELCOME_SMS_TEMPLATE: WELCOME, DATABASE_URL: server.url, DATABASE_AUTH_TOKEN: server.authToken },
    standIns: embedded,
  })
  t.equal((await moved.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  await drain(moved.app)
  t.equal(moved.intercom.contacts.length, 3, 'no contact made again')
  t.equal(moved.intercom.conversations.length, 2, 'no conversation opened again')
  const ana = moved.intercom.conversations.find((c) => c.source.body === 'hello')!
  t.same(textsInIntercom(moved.intercom, ana), ['hello', 'are you there?'], 'the queued text is delivered into its conversation')

  // Consent and welcome-once still hold: no welcome twice to the number, none to a number that said STOP.
  const welcomesSent = () => moved.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.body.startsWith('Hi ')).length
  t.equal(welcomesSent(), 1)
  await userCreated(moved, CY, 'cy.again@example.com')
  await userCreated(moved, BO, 'bo@example.com')
  t.equal(welcomesSent(), 1, 'no second welcome, none to the opted-out number')
  t.ok(server.requests > 0, 'the app ran on the remote database')
})
