// Issue 24, point 1: a database that lost its records (a restore of an older backup, a new volume, a
// staging copy with production credentials) meets a Twilio account with history. The catch-up lists
// the last day's texts from Twilio's log; none of them may reach Intercom twice, nor open a second
// conversation or contact. Each scenario runs through the real app and the loopback stand-ins.
import t from 'tap'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { catchUp, catchUpFrom } from '../../server/bridge/catchup.js'
import { catchUpCommand } from '../../server/ops/catchup.js'
import { applyStagedRestore, stageRestore } from '../../shared/db/backup.js'
import { openStore } from '../../shared/db/database.js'
import { standInEnv } from '../../sandbox/env.js'
import { tempDir } from '../support/db.js'
import { until } from '../support/wait.js'
import { runCli } from '../support/process.js'
import { textsInIntercom } from '../support/traffic.js'
import { buildTestApp, drain, inboundForm, OUR_NUMBER, postIntercomWebhook, postSms, type TestApp } from '../helper.js'

const ANA = '+14155550123'
const BO = '+14155550188'

/**
 * A customer's text as Twilio handles it: in the account's message log from when it was sent, and
 * posted to the bridge a moment later (1.5 s, so the time the webhook stores is always another second
 * than the log's), unless its webhook died with the process.
 */
async function texts(ctx: TestApp, from: string, body: string, { webhook = true } = {}) {
  const sent = ctx.twilio.addInboundMessage({ from, to: OUR_NUMBER, body, at: Date.now() - 1_500 })
  if (!webhook) return
  t.equal((await postSms(ctx, inboundForm(ctx, { MessageSid: sent.sid, From: from, Body: body }))).statusCode, 200)
  await drain(ctx.app)
}

/**
 * A database that has been serving for a while: its catch-up reaches back an hour (a fresh one takes
 * nothing sent before its first start, and these texts are sent within a second or two of it).
 */
const servingForAWhile = (ctx: TestApp) => catchUpFrom(ctx.app.store, Date.now() - 3_600_000, ctx.app.bridge.clock.now())

/** One turn of the catch-up, then its deliveries (the start's own turn may run beside it: a text is stored once). */
async function catchesUp(ctx: TestApp) {
  await catchUp(ctx.app.bridge)
  await drain(ctx.app)
}

/** What Intercom holds: every contact, every conversation, every customer text, as counts and bodies. */
function intercomState(ctx: TestApp) {
  return {
    contacts: ctx.intercom.contacts.length,
    conversations: ctx.intercom.conversations.length,
    texts: textsInIntercom(ctx.intercom).sort(),
  }
}

const delivered = (ctx: TestApp) =>
  ctx.app.store.db.selectFrom('messages').select(['body', 'intercom_part_id']).where('direction', '=', 'inbound').orderBy('id').execute()

t.test("1. a first start on an empty database takes no history from Twilio's log into Intercom", async (t) => {
  const dir = tempDir(t)
  const production = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'production.db')}` } })
  await texts(production, ANA, 'hello')
  await texts(production, BO, 'is my order shipped?')
  await texts(production, ANA, 'thanks')
  const before = intercomState(production)
  t.same(before, { contacts: 2, conversations: 2, texts: ['hello', 'is my order shipped?', 'thanks'] })
  await production.app.close()

  // A new volume (or a staging copy with the same credentials): an empty database, the same accounts.
  const fresh = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'fresh.db')}` }, standIns: production })
  await catchesUp(fresh)
  await catchesUp(fresh)
  t.same(intercomState(fresh), before, 'no text posted again, no conversation or contact added')
  t.same(await delivered(fresh), [], 'nothing from before the first start is taken')

  // What arrives from now on is the new database's to deliver, into the conversation Ana had.
  await texts(fresh, ANA, 'one more thing')
  t.same(intercomState(fresh), { ...before, texts: [...before.texts, 'one more thing'].sort() })
  const ana = fresh.intercom.conversations.find((c) => c.source.body === 'hello')!
  t.same(textsInIntercom(fresh.intercom, ana), ['hello', 'thanks', 'one more thing'])
})

t.test('1. after a restore of an older backup, the texts since are taken back without a second copy', async (t) => {
  const dir = tempDir(t)
  const dbFile = join(dir, 'bridge.db')
  const before = await buildTestApp(t, { env: { DATABASE_URL: `file:${dbFile}` } })
  await servingForAWhile(before)
  await texts(before, ANA, 'hello')
  const backup = join(dir, 'monday.db')
  await before.app.store.backup(backup)
  // After the backup: Ana again, Bo's first text ever (it opened his conversation), and a text of
  // Ana's whose webhook died, which Intercom never had.
  await texts(before, ANA, 'are you open today?')
  await texts(before, BO, 'first time texting')
  await texts(before, ANA, 'hello?', { webhook: false })
  const after = intercomState(before)
  t.same(after, { contacts: 2, conversations: 2, texts: ['are you open today?', 'first time texting', 'hello'] })
  await before.app.close()

  await stageRestore(dbFile, backup)
  t.ok(applyStagedRestore(dbFile), 'the backup is in place')
  const restored = await buildTestApp(t, { env: { DATABASE_URL: `file:${dbFile}` }, standIns: before })
  await catchesUp(restored)
  await catchesUp(restored)
  t.same(
    intercomState(restored),
    { ...after, texts: [...after.texts, 'hello?'].sort() },
    'only the text Intercom did not have is posted, once',
  )
  const rows = await delivered(restored)
  t.same(rows.map((r) => r.body).sort(), ['are you open today?', 'first time texting', 'hello', 'hello?'], 'each stored once')
  const ana = restored.intercom.conversations.find((c) => c.source.body === 'hello')!
  t.same(textsInIntercom(restored.intercom, ana), ['hello', 'are you open today?', 'hello?'], "in Ana's conversation, in order")
  t.ok(
    rows.every((r) => r.intercom_part_id),
    'each recorded against what Intercom shows',
  )
  t.equal(new Set(rows.map((r) => r.intercom_part_id)).size, 4, 'and no two against the same part')
})

t.test("1. on the operator's word (sms-bridge catchup --since), a fresh database takes the texts Intercom lacks, once", async (t) => {
  const dir = tempDir(t)
  const lost = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'lost.db')}` } })
  await servingForAWhile(lost)
  await texts(lost, ANA, 'hello')
  await texts(lost, ANA, 'hello')
  await texts(lost, ANA, 'did you get my photo?', { webhook: false })
  await texts(lost, BO, 'call me', { webhook: false })
  t.same(intercomState(lost), { contacts: 1, conversations: 1, texts: ['hello', 'hello'] })
  await lost.app.close()

  const fresh = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'new.db')}` }, standIns: lost })
  await catchesUp(fresh)
  t.same(intercomState(fresh).texts, ['hello', 'hello'], 'nothing until the operator asks')

  const refused = await catchUpCommand(fresh.config, ['--since', '30d'])
  t.same(refused, { code: 2, out: 'Usage: sms-bridge catchup --since <age>, with <age> like 90m, 24h or 3d (at most 7d)' })
  const asked = await catchUpCommand(fresh.config, ['--since', '24h'])
  t.equal(asked.code, 0)
  t.match(asked.out, /^The catch-up will take the texts sent since \d{4}-\d\d-\d\dT[\d:.]+Z that this database does not have/)
  await catchesUp(fresh)
  await catchesUp(fresh)
  const now = intercomState(fresh)
  t.same(
    now,
    { contacts: 2, conversations: 2, texts: ['call me', 'did you get my photo?', 'hello', 'hello'] },
    'the two it lacked, once; the same words sent twice stay two',
  )
  const ana = fresh.intercom.conversations.find((c) => c.source.body === 'hello')!
  t.same(textsInIntercom(fresh.intercom, ana), ['hello', 'hello', 'did you get my photo?'], "in Ana's conversation, in order")
  t.same((await delivered(fresh)).map((r) => r.body).sort(), ['call me', 'did you get my photo?', 'hello', 'hello'], 'each stored once')
})

t.test('1. a copy of a database keeps its history: only a database that never stored a text is new', async (t) => {
  const dir = tempDir(t)
  const first = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'a.db')}` } })
  await servingForAWhile(first)
  await texts(first, ANA, 'hello')
  await first.app.close()
  copyFileSync(join(dir, 'a.db'), join(dir, 'b.db'))
  // Its webhook died while the copy was being made: the copy is not new, so the catch-up takes it.
  await texts(first, ANA, 'still there?', { webhook: false })
  const copy = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'b.db')}` }, standIns: first })
  await catchesUp(copy)
  t.same(textsInIntercom(copy.intercom), ['hello', 'still there?'])
})

t.test('1. sms-bridge catchup: the command asks the running service, and refuses what it cannot do', async (t) => {
  const cwd = tempDir(t)
  const dbFile = join(cwd, 'bridge.db')
  const env = standInEnv(
    { accountSid: `AC${'1'.repeat(32)}`, authToken: 'x', url: 'http://127.0.0.1:9' } as never,
    { token: 'x', clientSecret: 'y', url: 'http://127.0.0.1:9' } as never,
    dbFile,
  )
  const usage = await runCli(['catchup'], env, cwd)
  t.equal(usage.code, 2)
  t.match(usage.stderr, /^Usage: sms-bridge catchup --since <age>/)
  t.equal((await runCli(['catchup', '--since', '8d'], env, cwd)).code, 2, 'at most 7 days')
  const asked = await runCli(['catchup', '--since', '90m'], env, cwd)
  t.equal(asked.code, 0, asked.stderr)
  t.match(asked.stdout, /texts sent since .* that this database does not have/)
  const store = await openStore({ url: `file:${dbFile}` })
  t.teardown(() => store.close())
  const job = await store.db.selectFrom('jobs').select(['state', 'run_at']).where('task', '=', 'inbound.catchup').executeTakeFirstOrThrow()
  t.equal(job.state, 'waiting')
  t.ok(job.run_at <= Date.now(), 'the catch-up is due now')
})

t.test('1. a restored database replays no reply the old one already texted', async (t) => {
  const dir = tempDir(t)
  const production = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'production.db')}` } })
  await texts(production, ANA, 'when does my order ship?')
  const conversation = production.intercom.conversations[0]!
  // The backup is taken while a teammate's reply is queued and not yet sent...
  await production.app.worker.stop()
  const part = production.intercom.addAdminReply(conversation.id, { body: '<p>Tomorrow morning.</p>' })
  await postIntercomWebhook(production, production.intercom.notification('conversation.admin.replied', conversation.id, [part]))
  await production.app.store.backup(join(dir, 'before.db'))
  await production.app.close()
  // ...and the old service sends it after the backup.
  const after = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'production.db')}` }, standIns: production })
  await drain(after.app)
  const sent = () => production.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.body === 'Tomorrow morning.')
  t.equal(sent().length, 1)
  await after.app.close()

  // Later the volume is lost and the backup restored: its queue still holds that reply.
  copyFileSync(join(dir, 'before.db'), join(dir, 'restored.db'))
  const old = await openStore({ url: `file:${join(dir, 'restored.db')}` })
  const tenMinutesAgo = Date.now() - 10 * 60_000
  await old.transaction((trx) => trx.updateTable('jobs').set({ created_at: tenMinutesAgo }).execute())
  await old.transaction((trx) => trx.updateTable('messages').set({ created_at: tenMinutesAgo }).execute())
  await old.close()
  const restored = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'restored.db')}` }, standIns: production })
  await drain(restored.app)
  t.equal(sent().length, 1, 'the customer is not texted a second time')
  const row = await restored.app.store.db
    .selectFrom('messages')
    .select(['twilio_sid', 'status'])
    .where('direction', '=', 'outbound')
    .executeTakeFirstOrThrow()
  t.equal(row.twilio_sid, sent()[0]!.sid, 'the restored record adopts the text Twilio already has')
})

t.test("1. an operator's catch-up asked for while a turn runs is not lost to that turn", async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  await servingForAWhile(ctx)
  // Sent two hours ago, its webhook lost: older than the running catch-up looks.
  ctx.twilio.addInboundMessage({ from: ANA, to: OUR_NUMBER, body: 'from this morning', at: Date.now() - 2 * 3_600_000 })
  let open!: () => void
  ctx.twilio.failNext({ match: { method: 'GET', path: /Messages\.json$/ }, gate: new Promise<void>((resolve) => (open = resolve)) })
  const asked = ctx.twilio.requests.length
  const turn = catchUp(ctx.app.bridge)
  // The turn has read its cursor once it asks Twilio's log (held at the gate).
  await until(
    () => ctx.twilio.requests.slice(asked).some((r) => r.method === 'GET' && /Messages\.json$/.test(r.path)),
    "the running turn to list Twilio's log",
    40_000,
  )
  await catchUpFrom(ctx.app.store, Date.now() - 3 * 3_600_000, ctx.app.bridge.clock.now())
  open()
  await turn
  t.equal((await delivered(ctx)).length, 0, 'the turn that was running looked only an hour back')
  await catchUp(ctx.app.bridge)
  t.same(
    (await delivered(ctx)).map((m) => m.body),
    ['from this morning'],
    'the next turn takes what the operator asked for',
  )
})
