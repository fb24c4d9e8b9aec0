// Issue 28, point 4: which of our numbers a customer sees. Each test goes through the real app and
// the stand-ins: the number they texted or were texted from sticks (across contacts, merges and
// restarts), a number taken out of the settings is no longer used, a first text goes from the number
// SENDERS gives the country, a text to a number opens a conversation with that number's tag and
// assignee, and `doctor` checks SENDERS against the account.
import t from 'tap'
import { runDoctor } from '../../server/ops/doctor.js'
import { startIntercomStandIn } from '../../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../../sandbox/twilio/index.js'
import {
  buildTestApp,
  drain,
  inboundForm,
  OUR_NUMBER,
  postCanvas,
  postIntercomWebhook,
  postSms,
  postStatus,
  type TestApp,
} from '../helper.js'

const CUSTOMER = '+14155550123'
const SECOND = '+14155550111'
const CANADA = '+16135550100'
const SERVICE = `MG${'b'.repeat(32)}`

const textsTo = (ctx: TestApp, phone = CUSTOMER) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === phone)
/** The form of each create (POST Messages.json) to `phone`, as the bridge sent it. */
const createsTo = (ctx: TestApp, phone = CUSTOMER) =>
  ctx.twilio.requests
    .filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'))
    .map((r) => r.body as Record<string, string>)
    .filter((b) => b.To === phone)
const deadJobs = (ctx: TestApp) => ctx.app.store.db.selectFrom('jobs').select(['task', 'last_error']).where('state', '=', 'dead').execute()

async function texts(ctx: TestApp, to: string, from = CUSTOMER, body = 'Hi, where is my order?') {
  const res = await postSms(ctx, inboundForm(ctx, { From: from, To: to, Body: body }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
}

async function teammateReplies(ctx: TestApp, conversationId: string, body: string) {
  const part = ctx.intercom.addAdminReply(conversationId, { body: `<p>${body}</p>` })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
  await drain(ctx.app)
}

async function canvas(ctx: TestApp, path: string, body: unknown) {
  const res = await postCanvas(ctx, path, body)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json()
}

/** A teammate sends a text from the sidebar of a user's conversation, as Intercom posts it (with the contact's phone). */
async function sidebarSends(ctx: TestApp, user: { id: string; phone: string | null }, conversationId: string, body: string) {
  const request = {
    workspace_id: 'abc123xy',
    workspace_region: 'us',
    admin: { type: 'admin', id: ctx.intercom.admin.id, name: 'Sam Agent', email: 'sam@example.com' },
    conversation: { type: 'conversation', id: conversationId, state: 'open' },
    contact: { type: 'contact', id: user.id, role: 'user', phone: user.phone },
    context: { conversation_id: Number(conversationId), location: 'inbox', locale: 'en' },
  }
  const shown = await canvas(ctx, '/canvas/inbox/initialize', request)
  await canvas(ctx, '/canvas/inbox/submit', {
    ...request,
    component_id: 'send_sms',
    input_values: { sms_body: body },
    current_canvas: shown.canvas,
  })
  await drain(ctx.app)
}

/** A user the team's own systems made with the customer's number, in a conversation of their own. */
async function userWithTheNumber(ctx: TestApp, phone = CUSTOMER) {
  const user = ctx.intercom.addContact({ role: 'user', email: `${phone.slice(1)}@example.com`, external_id: `u-${phone}`, phone })
  const started = await ctx.app.clients.intercom.conversations.create({ from: { type: 'user', id: user.id }, body: 'from the web' })
  return { user, conversationId: started.conversation_id }
}

t.test('a text to the second number: replies, and a text to another contact with the number, go from it', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${SECOND}` } })
  await texts(ctx, SECOND)
  await teammateReplies(ctx, ctx.intercom.conversations[0]!.id, 'It ships today.')
  t.same(
    textsTo(ctx).map((m) => m.from),
    [SECOND],
    'the reply goes from the number they texted',
  )
  // The same person as a user the team's systems made (a re-created contact): no SMS conversation of
  // its own, and still the number they know.
  const { user, conversationId } = await userWithTheNumber(ctx)
  await sidebarSends(ctx, user, conversationId, 'Your refund is on its way')
  t.same(
    textsTo(ctx).map((m) => [m.from, m.body]),
    [
      [SECOND, 'It ships today.'],
      [SECOND, 'Your refund is on its way'],
    ],
  )
  const row = await ctx.app.store.db.selectFrom('customer_senders').selectAll().executeTakeFirstOrThrow()
  t.match(row, { phone: CUSTOMER, number: SECOND })
  t.same(await deadJobs(ctx), [])
})

t.test('a redelivered webhook of an older text does not move the customer back to its number', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${SECOND}` } })
  const older = inboundForm(ctx, { From: CUSTOMER, To: SECOND, Body: 'first' })
  t.equal((await postSms(ctx, older)).statusCode, 200)
  await texts(ctx, OUR_NUMBER, CUSTOMER, 'second')
  t.equal((await postSms(ctx, older)).statusCode, 200, 'Twilio posts the first text again')
  await drain(ctx.app)
  const row = await ctx.app.store.db.selectFrom('customer_senders').selectAll().executeTakeFirstOrThrow()
  t.equal(row.number, OUR_NUMBER, 'the number of the newest text')
})

t.test('through a Messaging Service: the number Twilio sent from (its status callback) is used as From from then on', async (t) => {
  // The customer texts a number the settings do not name; the service picks the pool's first, SECOND.
  const ctx = await buildTestApp(t, {
    env: { TWILIO_PHONE_NUMBER: '', TWILIO_MESSAGING_SERVICE_SID: SERVICE, SENDERS: JSON.stringify({ [SECOND]: {} }) },
  })
  ctx.twilio.addServiceNumber(SERVICE, SECOND)
  ctx.twilio.addServiceNumber(SERVICE, OUR_NUMBER)
  await texts(ctx, OUR_NUMBER)
  const conversationId = ctx.intercom.conversations[0]!.id
  await teammateReplies(ctx, conversationId, 'First')
  const [first] = textsTo(ctx)
  t.match(createsTo(ctx)[0], { MessagingServiceSid: SERVICE }, 'through the service')
  t.notOk(createsTo(ctx)[0]!.From, 'the service picks the sender: the number texted is not in the settings')
  t.equal(first?.from, SECOND, "the stand-in's service sent it from the pool's first")
  t.match(ctx.logs.text, /no longer configured/, 'the skipped number is said')
  t.notMatch(ctx.logs.text, OUR_NUMBER, 'without the full number')

  const res = await postStatus(ctx, {
    MessageSid: first!.sid,
    MessageStatus: 'sent',
    From: SECOND,
    To: CUSTOMER,
    MessagingServiceSid: SERVICE,
  })
  t.equal(res.statusCode, 204)
  await teammateReplies(ctx, conversationId, 'Second')
  t.match(createsTo(ctx)[1], { MessagingServiceSid: SERVICE, From: SECOND }, 'the same sender, asked for by name')
  t.same(await deadJobs(ctx), [])
})

t.test('a contact merged in Intercom keeps the number: the survivor is texted from it', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${SECOND}` } })
  await texts(ctx, SECOND)
  const lead = ctx.intercom.contacts[0]!
  const { user, conversationId } = await userWithTheNumber(ctx)
  ctx.intercom.mergeContacts(lead.id, user.id)
  await sidebarSends(ctx, user, conversationId, 'Welcome aboard')
  t.same(
    textsTo(ctx).map((m) => m.from),
    [SECOND],
  )
  t.same(await deadJobs(ctx), [])
})

t.test('a number taken out of TWILIO_PHONE_NUMBER is no longer used: the default, said in the log without the number', async (t) => {
  const first = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${SECOND}` } })
  await texts(first, SECOND)
  const conversationId = first.intercom.conversations[0]!.id
  await first.app.close()
  // The same database and stand-ins, restarted without the second number.
  const ctx = await buildTestApp(t, {
    standIns: first,
    env: { TWILIO_PHONE_NUMBER: OUR_NUMBER, DATABASE_URL: first.config.database.url },
  })
  await teammateReplies(ctx, conversationId, 'Still here')
  t.same(
    textsTo(ctx).map((m) => m.from),
    [OUR_NUMBER],
  )
  t.match(ctx.logs.text, /the number this customer last used is no longer configured/)
  t.notMatch(ctx.logs.text, SECOND, 'the removed number is masked')
  t.notMatch(ctx.logs.text, CUSTOMER, "and so is the customer's")
})

t.test("a customer never texted gets their first text from the number SENDERS gives their country, else today's default", async (t) => {
  const ctx = await buildTestApp(t, {
    env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${CANADA}`, SENDERS: JSON.stringify({ [CANADA]: { countries: ['CA'] } }) },
  })
  const montreal = '+15145550123'
  const canadian = await userWithTheNumber(ctx, montreal)
  await sidebarSends(ctx, canadian.user, canadian.conversationId, 'Bonjour')
  const american = await userWithTheNumber(ctx, CUSTOMER)
  await sidebarSends(ctx, american.user, american.conversationId, 'Hello')
  t.equal(textsTo(ctx, montreal)[0]?.from, CANADA)
  t.equal(textsTo(ctx, CUSTOMER)[0]?.from, OUR_NUMBER)
  t.same(await deadJobs(ctx), [])
})

t.test("a text to a number opens a conversation with that number's tag, team and teammate", async (t) => {
  // The stand-ins first: SENDERS names the stand-in's one teammate.
  const standIns = { twilio: await startTwilioStandIn(), intercom: await startIntercomStandIn() }
  t.teardown(() => standIns.twilio.close())
  t.teardown(() => standIns.intercom.close())
  standIns.intercom.teams.push({ id: '77', name: 'Returns' })
  const ctx = await buildTestApp(t, {
    standIns,
    env: {
      TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${SECOND}`,
      SENDERS: JSON.stringify({ [SECOND]: { tag: 'returns', team: '77', teammate: standIns.intercom.admin.id } }),
    },
  })
  await texts(ctx, SECOND)
  await texts(ctx, OUR_NUMBER, '+14155550999')
  const [toSecond, toFirst] = ctx.intercom.conversations
  t.same(toSecond!.tags.map((tag) => tag.name).sort(), ['returns', 'sms'])
  t.equal(toSecond!.team_assignee_id, '77')
  t.equal(toSecond!.admin_assignee_id, ctx.intercom.admin.id)
  t.same(
    toFirst!.tags.map((tag) => tag.name),
    ['sms'],
    "the other number's conversation: SMS_TAG alone",
  )
  t.notOk(toFirst!.team_assignee_id, 'and unassigned')
  const assignments = ctx.intercom.requests.filter((r) => r.path.endsWith('/parts'))
  t.same(
    assignments.map((r) => [r.status, (r.body as Record<string, string>).type]),
    [
      [200, 'team'],
      [200, 'admin'],
    ],
    "the 2.16 description's request, accepted by the stand-in",
  )
  t.same(await deadJobs(ctx), [])
})

t.test('doctor: a number in SENDERS the account does not have, and a team Intercom does not have, each said plainly', async (t) => {
  const ctx = await buildTestApp(t, {
    env: {
      TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${SECOND}`,
      SENDERS: JSON.stringify({ [SECOND]: { tag: 'returns', team: '404' } }),
    },
  })
  ctx.twilio.addPhoneNumber(OUR_NUMBER)
  const lines = (await runDoctor(ctx.config, ctx.app.store, ctx.app.clients)).filter((r) => r.line.startsWith('Senders:'))
  t.match(lines, [
    { ok: false, line: /\*0111 is not one of the Twilio account's numbers/ },
    { ok: false, line: /team 404 \(for \+\*+0111\) is not one of Intercom's teams/ },
  ])
  t.notMatch(JSON.stringify(lines), SECOND, 'numbers masked')

  ctx.twilio.addPhoneNumber(SECOND)
  ctx.intercom.teams.push({ id: '404', name: 'Returns' })
  const fixed = (await runDoctor(ctx.config, ctx.app.store, ctx.app.clients)).filter((r) => r.line.startsWith('Senders:'))
  t.match(fixed, [{ ok: true, line: /SENDERS matches/ }])
})

t.test("doctor, with a Messaging Service: a number outside the service's sender pool", async (t) => {
  const ctx = await buildTestApp(t, {
    env: {
      TWILIO_MESSAGING_SERVICE_SID: SERVICE,
      SENDERS: JSON.stringify({ [SECOND]: { countries: ['US'] }, [SERVICE]: { tag: 'sms-service' } }),
    },
  })
  ctx.twilio.addPhoneNumber(OUR_NUMBER)
  ctx.twilio.addPhoneNumber(SECOND)
  ctx.twilio.addServiceNumber(SERVICE, OUR_NUMBER)
  const lines = (await runDoctor(ctx.config, ctx.app.store, ctx.app.clients)).filter((r) => r.line.startsWith('Senders:'))
  t.match(lines, [{ ok: false, line: /\*0111 is not in the Messaging Service's sender pool/ }])
})

t.test('erasing the person forgets which number they used', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${SECOND}` } })
  await texts(ctx, SECOND)
  const { erasePerson } = await import('../../server/bridge/privacy.js')
  await erasePerson({ store: ctx.app.store }, { phone: CUSTOMER }, Date.now())
  t.same(await ctx.app.store.db.selectFrom('customer_senders').selectAll().execute(), [])
})
