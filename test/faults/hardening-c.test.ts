// The security review's points 7, 8 and 13 (helper C's share), each reproduced as an attack through
// the real app, the real restore code or the real CLI, on loopback, and each failing harmlessly now.
import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { sql } from 'kysely'
import { databaseFile, stageRestore, stagedRestorePath } from '../../shared/db/backup.js'
import { migrate, openStore } from '../../shared/db/database.js'
import { loadConfig, ConfigError } from '../../server/config.js'
import { prune, VERIFICATION_RETENTION_MS } from '../../server/bridge/maintenance.js'
import { isPublicAddress } from '../../server/clients/download.js'
import { WORKSPACE } from '../../sandbox/intercom/state.js'
import { tempDir } from '../support/db.js'
import { runCli, SERVICE_ENV } from '../support/process.js'
import { buildTestApp, drain, inboundForm, postCanvas, postIntercomWebhook, postSms, type TestApp } from '../helper.js'

const OWNER = '+14155550123'
const ADMIN_TOKEN = 'admin-token-0123456789abcdef'

const outbound = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')

async function ownerWhoTexted(ctx: TestApp) {
  await postSms(ctx, inboundForm(ctx, { From: OWNER, Body: 'my account' }))
  await drain(ctx.app)
  return ctx.intercom.conversations[0]!
}

t.test('13a. a signed notification from another workspace moves nothing; ours still does', async (t) => {
  const ctx = await buildTestApp(t)
  const conversation = await ownerWhoTexted(ctx)
  // Our app installed in another workspace: Intercom signs its notifications alike, and its
  // conversation ids can be ours too. A reply there must never be texted to our customer.
  const foreign = {
    ...(ctx.intercom.notification('conversation.admin.replied', conversation.id, [
      ctx.intercom.addAdminReply(conversation.id, { body: 'not for you' }),
    ]) as object),
    app_id: 'otherws1',
  }
  const res = await postIntercomWebhook(ctx, foreign)
  t.equal(res.statusCode, 200, 'answered 200: error answers would pause the app subscription ours shares')
  t.match(res.json(), { ok: false, refused: /another Intercom workspace/ })
  await drain(ctx.app)
  t.equal(outbound(ctx).length, 0, 'nothing texted')
  t.equal(
    (await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().where('source', '=', 'intercom').execute()).length,
    0,
    'nothing recorded',
  )
  t.match(ctx.logs.text, /Intercom notification from another workspace dropped/)

  const ours = ctx.intercom.notification('conversation.admin.replied', conversation.id, [
    ctx.intercom.addAdminReply(conversation.id, { body: 'for you' }),
  ]) as { app_id?: string }
  t.equal(ours.app_id, WORKSPACE)
  t.equal((await postIntercomWebhook(ctx, ours)).statusCode, 200)
  await drain(ctx.app)
  t.same(
    outbound(ctx).map((m) => m.body),
    ['for you'],
    'our own workspace is served',
  )
})

t.test('13b. stored upstream errors show numbers masked in /admin/jobs and `jobs list`', async (t) => {
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN } })
  // Intercom refuses for good, quoting the number: the job dies with that message as its last error.
  ctx.intercom.failNext({
    status: 400,
    times: 40,
    body: { type: 'error.list', errors: [{ code: 'parameter_invalid', message: `phone ${OWNER} is not valid` }] },
  })
  await postSms(ctx, inboundForm(ctx, { From: OWNER, Body: 'hello' }))
  await drain(ctx.app)
  const dead = await ctx.app.store.db.selectFrom('jobs').selectAll().where('state', '=', 'dead').execute()
  t.ok(
    dead.some((j) => j.last_error?.includes(OWNER)),
    'the stored error quotes the number (kept for the operator)',
  )
  const res = await ctx.app.inject({ method: 'GET', url: '/admin/jobs', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(res.statusCode, 200)
  t.notMatch(res.body, '4155550123')
  t.match(res.body, /\+\*{7}0123/, 'masked as the logs mask it')

  const list = await runCli(['jobs', 'list'], { ...SERVICE_ENV, DATABASE_URL: ctx.config.database.url }, tempDir(t))
  t.equal(list.code, 0, list.stderr)
  t.notMatch(list.stdout, '4155550123')
  t.match(list.stdout, /\+\*{7}0123/)
})

t.test('13c. phone verifications are pruned a day past their expiry; a live one stays', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  const visitor = ctx.intercom.addContact({ role: 'lead', name: 'Visitor' })
  const post = (path: string, body: Record<string, unknown>) =>
    postCanvas(ctx, path, { workspace_id: WORKSPACE, user: { type: 'user', id: visitor.id }, context: { location: 'home' }, ...body })
  const submit = async (phone: string) => {
    // The card as Intercom shows it (its stored data carries the nonce a submit must bring back).
    const card = (await post('/canvas/messenger/initialize', {})).json().canvas
    const res = await post('/canvas/messenger/submit', {
      component_id: 'subscribe',
      input_values: { phone, consent: ['agree'] },
      current_canvas: card,
    })
    t.match(res.body, /We texted a 6-digit code/)
  }
  await submit('+14155550150')
  await submit('+14155550151')
  const rows = await ctx.app.store.db.selectFrom('phone_verifications').selectAll().orderBy('id').execute()
  t.equal(rows.length, 2, 'each typed number is kept while its code is of use')
  // The first expired long ago; the second has just expired (a resend would still renew it).
  const now = rows[1]!.expires_at + 60_000
  await ctx.app.store.transaction((trx) =>
    trx
      .updateTable('phone_verifications')
      .set({ expires_at: now - VERIFICATION_RETENTION_MS - 1 })
      .where('id', '=', rows[0]!.id)
      .execute(),
  )
  await prune({ store: ctx.app.store, log: ctx.app.log, config: ctx.config }, now)
  t.same(
    (await ctx.app.store.db.selectFrom('phone_verifications').select('phone').execute()).map((r) => r.phone),
    ['+14155550151'],
  )
})

t.test('13d. a remote database over plain http or ws is refused, with every other problem', async (t) => {
  const base = { ...SERVICE_ENV, DATABASE_AUTH_TOKEN: 'turso-token' }
  for (const url of ['http://db.example.com:8080', 'ws://db.example.com', 'libsql://db.example.com:8080?tls=0', 'http://10.0.0.5:8080']) {
    const error = t.throws(() => loadConfig({ ...base, DATABASE_URL: url, PORT: 'x' }, null)) as unknown
    t.ok(error instanceof ConfigError, url)
    t.match(
      (error as ConfigError).problems,
      [/PORT/, /^DATABASE_URL is invalid: a remote database must be reached over TLS/],
      `${url}: listed with the others`,
    )
  }
  for (const url of [
    'http://127.0.0.1:8080',
    'ws://localhost:8080',
    'http://[::1]:8080',
    'libsql://db.example.com',
    'https://db.example.com',
    'wss://db.example.com',
    'libsql://db.example.com?tls=1',
  ]) {
    t.equal(loadConfig({ ...base, DATABASE_URL: url }, null).database.url, url, `${url} accepted`)
  }
})

const mode = (path: string) => statSync(path).mode & 0o777

t.test('8a. a backup with a trigger no migration creates is refused, and nothing is staged', async (t) => {
  const ctx = await buildTestApp(t)
  await ownerWhoTexted(ctx)
  const dbFile = databaseFile(ctx.config.database.url)!
  const dir = tempDir(t)
  const cases: Array<[string, string, RegExp]> = [
    // Every text the bridge stores afterwards is re-addressed to the attacker's number.
    [
      'trigger',
      `CREATE TRIGGER readdress AFTER INSERT ON messages BEGIN UPDATE messages SET phone = '+15005550006' WHERE id = new.id; END`,
      /has a trigger 'readdress' that no migration creates/,
    ],
    ['view', 'CREATE VIEW everyone AS SELECT phone FROM phone_contacts', /has a view 'everyone' that no migration creates/],
    ['index', 'DROP INDEX phone_verifications_contact', /lacks the index 'phone_verifications_contact' the migrations create/],
  ]
  for (const [name, statement, refusal] of cases) {
    const backup = join(dir, `${name}.db`)
    await ctx.app.store.backup(backup)
    const tampered = await openStore({ url: `file:${backup}` })
    await sql.raw(statement).execute(tampered.db)
    await tampered.close()
    await t.rejects(stageRestore(dbFile, backup), refusal, name)
    t.notOk(existsSync(stagedRestorePath(dbFile)), `${name}: nothing staged`)
    t.same(
      readdirSync(dirname(dbFile)).filter((f) => f.includes('.restore')),
      [],
      `${name}: no partial copy left`,
    )
  }
  await t.rejects(stageRestore(dbFile, join(dir, 'trigger.db')), /Nothing was staged/)
})

t.test('8b. a true backup is staged; database, backups, the staged copy and the data folder are owner-only', async (t) => {
  const ctx = await buildTestApp(t)
  await ownerWhoTexted(ctx)
  const dbFile = databaseFile(ctx.config.database.url)!
  t.equal(mode(dbFile), 0o600, 'the database file')
  const backup = join(tempDir(t), 'backups', 'monday.db')
  await ctx.app.store.backup(backup)
  t.equal(mode(backup), 0o600, 'a backup')
  t.equal(mode(dirname(backup)), 0o700, 'the folder a backup creates')
  await t.rejects(ctx.app.store.backup(backup), /already exists; name a new file/, 'never overwritten')
  // A backup copied in by hand with a loose mode: the staged copy is owner-only all the same.
  chmodSync(backup, 0o644)
  t.same(await stageRestore(dbFile, backup), { migrationsToApply: 0 })
  t.equal(mode(stagedRestorePath(dbFile)), 0o600, 'the staged restore')

  const fresh = join(tempDir(t), 'data', 'nested')
  const store = await openStore({ url: `file:${join(fresh, 'bridge.db')}` })
  t.teardown(() => store.close())
  await migrate(store)
  t.equal(mode(fresh), 0o700, 'a data folder the bridge creates')
  t.equal(mode(join(fresh, 'bridge.db')), 0o600, 'the database it creates')
  t.equal(mode(join(fresh, 'bridge.db-wal')), 0o600, 'its log, as SQLite gives it the database file mode')
})

/** A server on another loopback address: what an attacker's redirect would reach inside our network. */
async function internalServer(t: Test) {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'image/png' })
    res.end('internal secret')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.2:${(server.address() as AddressInfo).port}`, hits }
}

t.test("7a. a teammate's upload is copied only from Intercom's hosts, redirects included, and only as the type fetched", async (t) => {
  const ctx = await buildTestApp(t)
  const conversation = await ownerWhoTexted(ctx)
  const inside = await internalServer(t)
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')
  const upload = (name: string, file: { contentType?: string; data?: Buffer; redirectTo?: string }, declared = 'image/png') => ({
    url: ctx.intercom.upload({
      name,
      contentType: file.contentType ?? 'image/png',
      data: file.data ?? png,
      ...(file.redirectTo ? { redirectTo: file.redirectTo } : {}),
    }),
    content_type: declared,
    name,
  })
  const real = upload('real.png', {})
  // Four redirects in a row, each on Intercom's host: one more than a download follows.
  let chain = real.url
  for (let i = 0; i < 3; i++) chain = upload(`hop-${i}.png`, { redirectTo: chain }).url
  const attachments = [
    upload('inside.png', { redirectTo: `${inside.url}/latest/meta-data` }),
    upload('page.png', { contentType: 'text/html', data: Buffer.from('<script>alert(document.cookie)</script>') }),
    upload('data.png', { contentType: 'application/json', data: Buffer.from('{"secret":1}') }),
    // A CDN hop on Intercom's own host is followed.
    upload('hop.png', { redirectTo: real.url }),
    upload('far.png', { redirectTo: chain }),
  ]
  await postIntercomWebhook(
    ctx,
    ctx.intercom.notification('conversation.admin.replied', conversation.id, [
      ctx.intercom.addAdminReply(conversation.id, { body: '<p>files</p>', attachments }),
    ]),
  )
  await drain(ctx.app)

  t.same(inside.hits, [], 'the internal address was never contacted')
  const held = await ctx.app.store.db.selectFrom('held_media').select(['name', 'content_type']).execute()
  t.same(
    held.map((h) => [h.name, h.content_type]),
    [['hop.png', 'image/png']],
    "only the file on Intercom's host was copied, as the type it was served with",
  )
  const note = ctx.intercom.conversations[0]!.parts.map((p) => p.body).join('\n')
  t.match(note, /inside\.png: it was not downloaded: its link led to 127\.0\.0\.2:\d+, which is not Intercom(&#39;|')s/)
  t.match(note, /page\.png: a text cannot carry a file of this type \(text\/html\)/)
  t.match(note, /data\.png: a text cannot carry a file of this type \(application\/json\)/)
  t.match(note, /far\.png: it was not downloaded: Intercom redirected it more than 3 times/)
  t.equal(outbound(ctx)[0]?.num_media, '1', 'the one real picture went by MMS')
})

t.test('7b. addresses a download may never reach', async (t) => {
  for (const address of [
    '127.0.0.5',
    '169.254.169.254',
    '10.1.2.3',
    '100.64.0.1',
    '172.16.0.1',
    '192.168.1.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    'not-an-address',
  ]) {
    t.notOk(isPublicAddress(address), address)
  }
  for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) t.ok(isPublicAddress(address), address)
})
