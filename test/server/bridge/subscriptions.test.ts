import t, { type Test } from 'tap'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, type TestApp } from '../../helper.js'
import { startIntercomStandIn } from '../../../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../../../sandbox/twilio/index.js'
import { tempDir } from '../../support/db.js'
import { runCli } from '../../support/process.js'

// Issue 27, point 2: Intercom's SMS subscription type shows an opt-out and can change it.

const CUSTOMER = '+14155550123'
const SECRET = 'series-secret-0123456789'

async function text(ctx: TestApp, body: string, from = CUSTOMER) {
  const res = await postSms(ctx, inboundForm(ctx, { Body: body, From: from }))
  if (res.statusCode !== 200) throw new Error(`webhook answered ${res.statusCode}: ${res.body}`)
  await drain(ctx.app)
}

/** The contact the bridge made from the customer's first text. */
const contactOf = (ctx: TestApp, phone = CUSTOMER) => ctx.intercom.contacts.find((c) => c.phone === phone)!
const chosen = (ctx: TestApp, contactId: string) => ctx.intercom.subscriptionsOf(contactId).map((s) => `${s.id}:${s.consent_type}`)
const notes = (ctx: TestApp, conversationId: string) =>
  ctx.intercom
    .conversation(conversationId)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body ?? '')

t.test('STOP unsubscribes the contact from an opt-out SMS type; START subscribes it again', async (t) => {
  const ctx = await buildTestApp(t)
  ctx.intercom.addSubscriptionType({ name: 'Newsletters', consentType: 'opt_out', contentTypes: ['email'] })
  const sms = ctx.intercom.addSubscriptionType({ name: 'SMS updates', consentType: 'opt_out', contentTypes: ['email', 'sms_message'] })
  await text(ctx, 'hello')
  const contact = contactOf(ctx)
  t.same(chosen(ctx, contact.id), [], 'subscribed: an opt-out type with no choice made')

  await text(ctx, 'STOP')
  t.same(chosen(ctx, contact.id), [`${sms.id}:opt_out`], 'unsubscribed from the SMS type, not the email one')
  t.equal(contact.custom_attributes.sms_opted_out, true, 'the attribute, as before')
  t.match(notes(ctx, ctx.intercom.conversations[0]!.id).at(-1), /opted out of text messages/, 'and the note')

  await text(ctx, 'START')
  t.same(chosen(ctx, contact.id), [], 'subscribed again')
  t.equal(contact.custom_attributes.sms_opted_out, false)
})

t.test('an opt-in SMS type: STOP detaches the contact, START attaches it again', async (t) => {
  const ctx = await buildTestApp(t)
  const sms = ctx.intercom.addSubscriptionType({ name: 'SMS offers', consentType: 'opt_in', contentTypes: ['sms_message'] })
  await text(ctx, 'hello')
  const contact = contactOf(ctx)
  ctx.intercom.setContactSubscription(contact.id, sms.id, 'opt_in') // they signed up for texts
  await text(ctx, 'STOP')
  t.same(chosen(ctx, contact.id), [], 'no longer opted in')
  await text(ctx, 'START')
  t.same(chosen(ctx, contact.id), [`${sms.id}:opt_in`], 'opted in again')
})

t.test('a type archived since it was cached is forgotten: the retry finds the new one', async (t) => {
  const ctx = await buildTestApp(t)
  const old = ctx.intercom.addSubscriptionType({ name: 'SMS', consentType: 'opt_out', contentTypes: ['sms_message'] })
  await text(ctx, 'hello')
  await text(ctx, 'STOP')
  t.same(chosen(ctx, contactOf(ctx).id), [`${old.id}:opt_out`])
  old.state = 'archived'
  const renamed = ctx.intercom.addSubscriptionType({ name: 'Text messages', consentType: 'opt_out', contentTypes: ['sms_message'] })
  const other = '+14155550124'
  await text(ctx, 'hello', other)
  await text(ctx, 'STOP', other)
  t.same(chosen(ctx, contactOf(ctx, other).id), [`${renamed.id}:opt_out`])
  const attaches = ctx.intercom.requests.filter(
    (r) => r.method === 'POST' && r.path === `/contacts/${contactOf(ctx, other).id}/subscriptions`,
  )
  t.same(
    attaches.map((r) => [(r.body as { id: string }).id, r.status]),
    [
      [old.id, 404],
      [renamed.id, 200],
    ],
    'the cached type first, refused; then the one Intercom lists now',
  )
  t.match(notes(ctx, ctx.intercom.conversations[1]!.id).at(-1), /opted out of text messages/, 'the note still follows')
  t.equal((await ctx.app.store.db.selectFrom('jobs').selectAll().where('state', '=', 'dead').execute()).length, 0)
})

t.test("Twilio's 21610 shows on the contact: unsubscribed, attribute set, once", async (t) => {
  const ctx = await buildTestApp(t)
  const sms = ctx.intercom.addSubscriptionType({ name: 'SMS updates', consentType: 'opt_out', contentTypes: ['sms_message'] })
  await text(ctx, 'hello')
  const contact = contactOf(ctx)
  const conversationId = ctx.intercom.conversations[0]!.id
  ctx.twilio.rejectRecipient(CUSTOMER, 21610)
  for (const body of ['Are you there?', 'Hello?']) {
    const part = ctx.intercom.addAdminReply(conversationId, { body })
    await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
    await drain(ctx.app)
  }
  t.same(chosen(ctx, contact.id), [`${sms.id}:opt_out`])
  t.equal(contact.custom_attributes.sms_opted_out, true)
  const attaches = ctx.intercom.requests.filter((r) => r.method === 'POST' && r.path === `/contacts/${contact.id}/subscriptions`)
  t.equal(attaches.length, 1, 'told once: the second refusal changed nothing')
})

t.test('a contact a teammate unsubscribed in Intercom gets no welcome nor Series text, and a note says why', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Welcome to Acme!', SERIES_WEBHOOK_SECRET: SECRET } })
  const sms = ctx.intercom.addSubscriptionType({ name: 'SMS updates', consentType: 'opt_out', contentTypes: ['sms_message'] })
  const sent = () => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => m.body)

  // The welcome: a new user the team's CRM made, unsubscribed in Intercom before the webhook arrives.
  const user = ctx.intercom.addContact({ role: 'user', external_id: 'crm-1', phone: '+14155550181' })
  ctx.intercom.setContactSubscription(user.id, sms.id, 'opt_out')
  await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', user.id))
  await drain(ctx.app)
  const welcome = await ctx.app.store.db
    .selectFrom('automated_sends')
    .selectAll()
    .where('key', '=', `welcome:${user.id}`)
    .executeTakeFirst()
  t.match(welcome, { status: 'skipped', reason: /unsubscribed from the SMS subscription type "SMS updates" in Intercom/ })

  // A Series step to a customer who texted us: skipped with a note; sent once resubscribed.
  await text(ctx, 'hello')
  const contact = contactOf(ctx)
  const conversationId = ctx.intercom.conversations[0]!.id
  const step = async (stepId: string) => {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/intercom/series',
      headers: { 'x-bridge-secret': SECRET },
      payload: { contact_id: contact.id, step_id: stepId, message: `Series ${stepId}` },
    })
    t.equal(res.statusCode, 202)
    await drain(ctx.app)
  }
  ctx.intercom.setContactSubscription(contact.id, sms.id, 'opt_out')
  await step('s1')
  t.same(sent(), [], 'nothing texted')
  t.match(notes(ctx, conversationId).at(-1), /Series text not sent:.*unsubscribed from the SMS subscription type &quot;SMS updates&quot;/)

  ctx.intercom.setContactSubscription(contact.id, sms.id, null)
  await step('s2')
  t.same(sent(), ['Series s2'], 'resubscribed in Intercom: texted again')
  await step('s3')

  // The ledger shows each change Intercom made, once, with the type's name; not what the bridge decides.
  const ledger = await ctx.app.store.db
    .selectFrom('consent_events')
    .select(['phone', 'state', 'source', 'text', 'contact_id'])
    .where('source', '=', 'intercom:subscription')
    .orderBy('id')
    .execute()
  t.match(ledger, [
    { phone: '+14155550181', state: 'opted_out', text: 'SMS updates', contact_id: user.id },
    { phone: CUSTOMER, state: 'opted_out', text: 'SMS updates', contact_id: contact.id },
    { phone: CUSTOMER, state: 'opted_in', text: null, contact_id: contact.id },
  ])
  t.equal(ledger.length, 3, 'the send after resubscribing records nothing new')
  t.equal(
    await ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', CUSTOMER).executeTakeFirst(),
    undefined,
    'our own record is untouched',
  )
})

t.test('Intercom refusing the subscription calls: STOP still notes, an automated text is not sent on a guess', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Welcome to Acme!' } })
  ctx.intercom.addSubscriptionType({ name: 'SMS updates', consentType: 'opt_out', contentTypes: ['sms_message'] })
  await text(ctx, 'hello')
  ctx.intercom.failNext({ status: 403, match: { path: /\/subscriptions$/ } })
  await text(ctx, 'STOP')
  t.equal(contactOf(ctx).custom_attributes.sms_opted_out, true, 'the attribute is set')
  t.match(notes(ctx, ctx.intercom.conversations[0]!.id).at(-1), /opted out of text messages/, 'the note is added')

  const user = ctx.intercom.addContact({ role: 'user', external_id: 'crm-3', phone: '+14155550183' })
  ctx.intercom.failNext({ status: 403, match: { path: /\/subscriptions$/ } })
  await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', user.id))
  await drain(ctx.app)
  const welcome = await ctx.app.store.db
    .selectFrom('automated_sends')
    .selectAll()
    .where('key', '=', `welcome:${user.id}`)
    .executeTakeFirst()
  t.match(welcome, { status: 'skipped', reason: /did not show the contact's SMS subscriptions.*403/ })
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 0)
})

t.test('native unsubscribed_from_sms is still honoured beside a subscription type', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Welcome to Acme!' } })
  ctx.intercom.addSubscriptionType({ name: 'SMS updates', consentType: 'opt_out', contentTypes: ['sms_message'] })
  const user = ctx.intercom.addContact({ role: 'user', external_id: 'crm-2', phone: '+14155550182', unsubscribed_from_sms: true })
  await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', user.id))
  await drain(ctx.app)
  const welcome = await ctx.app.store.db
    .selectFrom('automated_sends')
    .selectAll()
    .where('key', '=', `welcome:${user.id}`)
    .executeTakeFirst()
  t.match(welcome, { status: 'skipped', reason: /unsubscribed_from_sms/ })
})

t.test('the stand-in checks subscription requests against the description', async (t) => {
  const intercom = await startIntercomStandIn()
  t.teardown(() => intercom.close())
  const sms = intercom.addSubscriptionType({ name: 'SMS updates', consentType: 'opt_out', contentTypes: ['sms_message'] })
  const contact = intercom.addContact({ role: 'lead', phone: CUSTOMER })
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${intercom.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${intercom.token}`, 'intercom-version': '2.16', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const path = `/contacts/${contact.id}/subscriptions`
  t.equal((await call('POST', path, { id: sms.id })).status, 400, 'consent_type is required')
  t.equal((await call('POST', path, { id: Number(sms.id), consent_type: 'opt_out' })).status, 400, 'the id is a string')
  t.equal((await call('POST', path, { id: sms.id, consent_type: 'opt_in' })).status, 400, "not the type's consent")
  t.equal((await call('POST', path, { id: '999999', consent_type: 'opt_out' })).status, 404)
  t.same(intercom.subscriptionsOf(contact.id), [], 'nothing changed by bad requests')
  t.equal((await call('POST', path, { id: sms.id, consent_type: 'opt_out' })).status, 200)
  t.match(await (await call('GET', path)).json(), {
    type: 'list',
    data: [{ id: sms.id, consent_type: 'opt_out', content_types: ['sms_message'] }],
  })
  t.equal((await call('DELETE', `${path}/${sms.id}`)).status, 200)
  t.match(await (await call('GET', '/subscription_types')).json(), { type: 'list', data: [{ id: sms.id }] })
  t.same(intercom.subscriptionsOf(contact.id), [])
})

async function setupEnv(t: Test) {
  const twilio = await startTwilioStandIn()
  const intercom = await startIntercomStandIn()
  t.teardown(() => twilio.close())
  t.teardown(() => intercom.close())
  const number = '+14155550100'
  twilio.addPhoneNumber(number)
  const env = {
    PUBLIC_URL: 'https://sms.example.com',
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_PHONE_NUMBER: number,
    TWILIO_API_BASE_URL: twilio.url,
    INTERCOM_ACCESS_TOKEN: intercom.token,
    INTERCOM_CLIENT_SECRET: intercom.clientSecret,
    INTERCOM_API_BASE_URL: intercom.url,
  }
  return { intercom, env }
}

t.test('setup reports the SMS subscription type, or how to create one', async (t) => {
  const { intercom, env } = await setupEnv(t)
  const none = await runCli(['setup', '--dry-run'], env, tempDir(t))
  t.equal(none.code, 0, none.stderr)
  t.match(none.stdout, /no live subscription type includes SMS.*create one in Intercom \(Settings -> Subscriptions.*the API cannot/)

  intercom.addSubscriptionType({ name: 'Newsletters', consentType: 'opt_out', contentTypes: ['email'] })
  intercom.addSubscriptionType({ name: 'Old SMS', consentType: 'opt_out', contentTypes: ['sms_message'], state: 'archived' })
  intercom.addSubscriptionType({ name: 'SMS updates', consentType: 'opt_out', contentTypes: ['sms_message'] })
  const found = await runCli(['setup', '--dry-run'], env, tempDir(t))
  t.equal(found.code, 0, found.stderr)
  t.match(
    found.stdout,
    'Intercom: opt-outs are shown on the SMS subscription type "SMS updates" (opt-out: an opt-out is shown as unsubscribed).',
  )
})
