import t from 'tap'
import { join } from 'node:path'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, postStatus, type TestApp } from '../../helper.js'
import { tempDir } from '../../support/db.js'

const WELCOME = 'Hi {{first_name|there}}, welcome to Acme! Reply here any time.'
const SECRET = 'series-secret-0123456789'

async function contactCreated(ctx: TestApp, contact: { id: string; role: string }) {
  const res = await postIntercomWebhook(ctx, ctx.intercom.contactNotification(`contact.${contact.role}.created`, contact.id))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
}

let crmId = 0
/**
 * A user from the team's own systems: its phone is the team's data, so automated texts may go to it.
 * (A lead's phone is the visitor's own claim: test/faults/visitor-fields.test.ts.)
 */
const teamUser = (
  ctx: Pick<TestApp, 'intercom'>,
  fields: Parameters<TestApp['intercom']['addContact']>[0] extends infer F ? Omit<F & object, 'role'> : never,
) => ctx.intercom.addContact({ role: 'user', external_id: `crm-${++crmId}`, ...fields })

const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
const record = (ctx: TestApp, key: string) =>
  ctx.app.store.db.selectFrom('automated_sends').selectAll().where('key', '=', key).executeTakeFirst()

t.test('a new contact with a mobile number gets the welcome text, with or without a name', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME } })
  const ana = ctx.intercom.addContact({ role: 'user', email: 'ana@example.com', name: 'Ana Lima', phone: '+14155550111' })
  const anon = teamUser(ctx, { phone: '+14155550112' })
  await contactCreated(ctx, ana)
  await contactCreated(ctx, anon)
  t.same(
    sent(ctx).map((m) => [m.to, m.body]),
    [
      ['+14155550111', 'Hi Ana, welcome to Acme! Reply here any time.'],
      ['+14155550112', 'Hi there, welcome to Acme! Reply here any time.'],
    ],
  )
  t.match(await record(ctx, `welcome:${ana.id}`), { status: 'sent', phone: '+14155550111', requested_by: 'contact.user.created' })
  const row = await ctx.app.store.db.selectFrom('messages').selectAll().where('phone', '=', '+14155550111').executeTakeFirstOrThrow()
  t.equal(row.twilio_sid, sent(ctx)[0]!.sid, 'tracked like any other text')
  await postStatus(ctx, { MessageSid: row.twilio_sid!, MessageStatus: 'delivered' })
  t.equal(
    (await ctx.app.store.db.selectFrom('messages').select('status').where('id', '=', row.id).executeTakeFirstOrThrow()).status,
    'delivered',
  )
})

t.test('exactly once per contact: redeliveries, concurrent webhooks and merges never send a second', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME, DEFAULT_COUNTRY: 'US' } })
  const first = teamUser(ctx, { phone: '+14155550121' })
  const payload = ctx.intercom.contactNotification('contact.user.created', first.id)
  await Promise.all([
    postIntercomWebhook(ctx, payload),
    postIntercomWebhook(ctx, payload),
    postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', first.id)),
  ])
  await drain(ctx.app)
  await contactCreated(ctx, first)
  // The same person again under a new contact id (re-created, or a merge's survivor): the same number.
  const user = ctx.intercom.addContact({ role: 'user', email: 'merged@example.com', phone: '(415) 555-0121' })
  await contactCreated(ctx, user)
  t.equal(sent(ctx).length, 1, 'one welcome text')
  t.match(await record(ctx, `welcome:${user.id}`), { status: 'skipped', reason: /already sent the welcome/ })
})

t.test('skipped, with the reason recorded', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME } })
  const noPhone = ctx.intercom.addContact({ role: 'user', email: 'nophone@example.com' })
  const landline = teamUser(ctx, { phone: '+442071838750' })
  const optedOut = teamUser(ctx, { phone: '+14155550131' })
  await ctx.app.store.transaction((trx) =>
    trx.insertInto('consent').values({ phone: '+14155550131', state: 'opted_out', source: 'keyword', changed_at: Date.now() }).execute(),
  )
  for (const c of [noPhone, landline, optedOut]) await contactCreated(ctx, c)

  // Someone who texted first: the bridge created the lead from their text.
  await postSms(ctx, inboundForm(ctx, { From: '+14155550132', Body: 'hello?' }))
  await drain(ctx.app)
  const fromText = ctx.intercom.contacts.find((c) => c.phone === '+14155550132')!
  await contactCreated(ctx, fromText)

  t.equal(sent(ctx).length, 0, 'nothing sent')
  t.match(await record(ctx, `welcome:${noPhone.id}`), { status: 'skipped', reason: 'The contact has no valid mobile number.' })
  t.match(await record(ctx, `welcome:${landline.id}`), { status: 'skipped', reason: 'The contact has no valid mobile number.' })
  t.match(await record(ctx, `welcome:${optedOut.id}`), { status: 'skipped', reason: /opted out of text messages \(texted STOP/ })
  t.match(await record(ctx, `welcome:${fromText.id}`), { status: 'skipped', reason: /created from their own text/ })
  const conversation = ctx.intercom.conversations[0]!
  t.match(
    conversation.parts.filter((p) => p.part_type === 'note').at(-1)?.body,
    /Welcome text not sent:.*own text/,
    'the team sees why, in the SMS conversation',
  )
})

t.test('the welcome also goes to bridge-created contacts when asked, and shows as a note', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME, WELCOME_BRIDGE_CONTACTS: 'true' } })
  await postSms(ctx, inboundForm(ctx, { From: '+14155550141', Body: 'hi' }))
  await drain(ctx.app)
  const contact = ctx.intercom.contacts[0]!
  await contactCreated(ctx, contact)
  t.equal(sent(ctx).length, 1)
  const note = ctx.intercom.conversations[0]!.parts.filter((p) => p.part_type === 'note').at(-1)
  t.match(note?.body, /Welcome text sent by SMS/)
  t.match(note?.body, sent(ctx)[0]!.sid)
  t.match(note?.body, 'Hi there, welcome to Acme!')
})

t.test('no template: the welcome text is off', async (t) => {
  const ctx = await buildTestApp(t)
  const user = teamUser(ctx, { phone: '+14155550151' })
  await contactCreated(ctx, user)
  t.equal(sent(ctx).length, 0)
  t.equal(await record(ctx, `welcome:${user.id}`), undefined)
})

t.test('SMS_CONSENT=required: only contacts who agreed get automated texts', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME, SMS_CONSENT: 'required' } })
  await ctx.app.store.transaction((trx) =>
    trx.insertInto('settings_cache').values({ key: 'intercom.attribute.contact.sms_consent', value: '1', updated_at: 0 }).execute(),
  )
  const no = teamUser(ctx, { phone: '+14155550161' })
  const yes = teamUser(ctx, { phone: '+14155550162', custom_attributes: { sms_consent: true } })
  await contactCreated(ctx, no)
  await contactCreated(ctx, yes)
  t.same(
    sent(ctx).map((m) => m.to),
    ['+14155550162'],
    'the custom sms_consent of earlier versions still counts',
  )
  t.match(await record(ctx, `welcome:${no.id}`), { status: 'skipped', reason: /has not agreed to receive text messages/ })

  // Intercom's own fields: native sms_consent gives consent, native unsubscribed_from_sms withdraws it.
  const native = teamUser(ctx, { phone: '+14155550163', sms_consent: true })
  const unsubscribed = teamUser(ctx, { phone: '+14155550164', sms_consent: true, unsubscribed_from_sms: true })
  const ours = teamUser(ctx, { phone: '+14155550165', custom_attributes: { sms_bridge_consent: true } })
  for (const c of [native, unsubscribed, ours]) await contactCreated(ctx, c)
  t.same(
    sent(ctx).map((m) => m.to),
    ['+14155550162', '+14155550163', '+14155550165'],
  )
  t.match(await record(ctx, `welcome:${unsubscribed.id}`), { status: 'skipped', reason: /unsubscribed from SMS in Intercom/ })
})

t.test('unsubscribed_from_sms stops automated texts whatever the consent mode', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME } })
  const off = teamUser(ctx, { phone: '+14155550166', unsubscribed_from_sms: true })
  await contactCreated(ctx, off)
  t.equal(sent(ctx).length, 0)
  t.match(await record(ctx, `welcome:${off.id}`), { status: 'skipped', reason: /unsubscribed_from_sms/ })
})

t.test('Series: secret header, clear 400s, once per step and contact', async (t) => {
  const ctx = await buildTestApp(t, {
    env: {
      SERIES_WEBHOOK_SECRET: SECRET,
      SMS_TEMPLATES: JSON.stringify({ renewal: 'Hi {{first_name|there}}, your plan renews tomorrow.' }),
    },
  })
  const contact = ctx.intercom.addContact({ role: 'user', email: 'bo@example.com', name: 'Bo Chen', phone: '+14155550171' })
  const post = (payload: unknown, secret: string | null = SECRET) =>
    ctx.app.inject({
      method: 'POST',
      url: '/intercom/series',
      headers: secret === null ? {} : { 'x-bridge-secret': secret },
      payload: payload as object,
    })

  t.equal((await post({ contact_id: contact.id, step_id: 's1', message: 'hi' }, null)).statusCode, 401, 'missing secret')
  t.equal((await post({ contact_id: contact.id, step_id: 's1', message: 'hi' }, 'wrong-secret-0123456789')).statusCode, 401, 'wrong secret')
  const cases: Array<[unknown, string, RegExp]> = [
    [{ step_id: 's1', message: 'hi' }, 'contact_id', /contact_id: required/],
    [{ contact_id: contact.id, message: 'hi' }, 'step_id', /step_id: required/],
    [{ contact_id: contact.id, step_id: 's1' }, 'message', /either message or template/],
    [{ contact_id: contact.id, step_id: 's1', message: 'hi', template: 'renewal' }, 'message', /either message or template/],
    [{ contact_id: contact.id, step_id: 's1', template: 'nope' }, 'template', /unknown template "nope" \(known: renewal; or macro:<id>\)/],
    [{ contact_id: contact.id, step_id: 's1', message: 'x'.repeat(1601) }, 'message', /at most 1600/],
  ]
  for (const [payload, field, message] of cases) {
    const res = await post(payload)
    t.equal(res.statusCode, 400, field)
    t.match(res.json(), { error: { field, message } })
  }
  t.equal((await ctx.app.store.db.selectFrom('automated_sends').selectAll().execute()).length, 0, 'nothing recorded for bad requests')

  const first = await post({ contact_id: contact.id, step_id: 'renewal-reminder', template: 'renewal' })
  t.equal(first.statusCode, 202)
  t.match(first.json(), { status: 'queued' })
  const again = await post({ contact_id: contact.id, step_id: 'renewal-reminder', template: 'renewal' })
  t.match(again.json(), { status: 'duplicate' })
  // A payload phone that is not one of the contact's numbers is only somebody's word for it (a Series
  // payload often inserts the contact's own phone attribute): nothing goes to it.
  await post({ contact_id: contact.id, step_id: 'custom', message: 'A free-text step', phone: '+1 415 555 0172' })
  await post({
    contact_id: contact.id,
    step_id: 'same-number',
    message: 'Their own number, written another way',
    phone: '+1 (415) 555-0171',
  })
  await drain(ctx.app)
  t.same(
    sent(ctx).map((m) => [m.to, m.body]),
    [
      ['+14155550171', 'Hi Bo, your plan renews tomorrow.'],
      ['+14155550171', 'Their own number, written another way'],
    ],
    "the payload phone is used only when it is the contact's trusted number",
  )
  t.match(await record(ctx, `series:custom:${contact.id}`), { status: 'skipped', reason: /only on the contact's own profile/ })
})

t.test('Series texts follow the same consent rules', async (t) => {
  const ctx = await buildTestApp(t, { env: { SERIES_WEBHOOK_SECRET: SECRET } })
  const contact = teamUser(ctx, { phone: '+14155550191' })
  await postSms(ctx, inboundForm(ctx, { From: '+14155550191', Body: 'STOP' }))
  await drain(ctx.app)
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/intercom/series',
    headers: { 'x-bridge-secret': SECRET },
    payload: { contact_id: contact.id, step_id: 'promo', message: 'Sale!' },
  })
  t.equal(res.statusCode, 202)
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0)
  t.match(await record(ctx, `series:promo:${contact.id}`), { status: 'skipped', reason: /opted out/ })
})

t.test('quiet hours hold automated texts as delayed jobs; they go out when the window ends', async (t) => {
  const dir = tempDir(t)
  const now = new Date()
  const hhmm = (d: Date) => d.toISOString().slice(11, 16)
  const window = `${hhmm(new Date(now.getTime() - 3_600_000))}-${hhmm(new Date(now.getTime() + 3_600_000))}`
  const env = { WELCOME_SMS_TEMPLATE: WELCOME, DATABASE_URL: `file:${join(dir, 'bridge.db')}` }
  const quiet = await buildTestApp(t, { env: { ...env, QUIET_HOURS: window, QUIET_HOURS_TIMEZONE: 'UTC' } })
  const user = teamUser(quiet, { phone: '+14155550181' })
  await postIntercomWebhook(quiet, quiet.intercom.contactNotification('contact.user.created', user.id))
  const held = async () =>
    quiet.app.store.db
      .selectFrom('jobs')
      .selectAll()
      .where('task', '=', 'automated.send')
      .where('run_at', '>', Date.now() + 1_800_000)
      .executeTakeFirst()
  for (let i = 0; i < 500 && !(await held()); i++) await new Promise((r) => setTimeout(r, 10))
  const job = await held()
  t.ok(job, 'held as a delayed job')
  t.ok(Math.abs(job!.run_at - (now.getTime() + 3_600_000)) < 120_000, 'until the window ends, an hour from now')
  t.equal(sent(quiet).length, 0, 'not sent during quiet hours')
  const conversationReply = await postSms(quiet, inboundForm(quiet, { From: '+14155550182', Body: 'hi' }))
  t.equal(conversationReply.statusCode, 200)
  await quiet.app.close()

  // Later: the window is over (here: the held job is due and the process restarted without it).
  const later = await buildTestApp(t, { env, standIns: quiet })
  await later.app.store.transaction((trx) =>
    trx.updateTable('jobs').set({ run_at: Date.now() }).where('task', '=', 'automated.send').execute(),
  )
  later.app.worker.wake()
  await drain(later.app)
  t.same(
    sent(later).map((m) => m.to),
    ['+14155550181'],
    'released, sent once',
  )
})

t.test("quiet hours follow the contact's time zone when Intercom knows their country", async (t) => {
  const tokyo = (offsetMs: number) =>
    new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
      Date.now() + offsetMs,
    )
  // Quiet now in Tokyo; nine hours away, so not in UTC.
  const ctx = await buildTestApp(t, {
    env: { WELCOME_SMS_TEMPLATE: WELCOME, QUIET_HOURS: `${tokyo(-3_600_000)}-${tokyo(3_600_000)}`, QUIET_HOURS_TIMEZONE: 'UTC' },
  })
  const inJapan = teamUser(ctx, { phone: '+14155550201', location: { type: 'location', country: 'Japan', region: null, city: 'Tokyo' } })
  const unknown = teamUser(ctx, { phone: '+14155550202' })
  await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', inJapan.id))
  await contactCreated(ctx, unknown)
  t.same(
    sent(ctx).map((m) => m.to),
    ['+14155550202'],
    'the contact with no location is outside the window in UTC',
  )
  t.match(await record(ctx, `welcome:${inJapan.id}`), { status: 'queued' }, 'the contact in Tokyo waits')
})
