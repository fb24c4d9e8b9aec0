import t from 'tap'
import { erasePerson } from '../../server/bridge/privacy.js'
import { buildTestApp, drain, inboundForm, OUR_NUMBER, postCanvas, postIntercomWebhook, postSms, type TestApp } from '../helper.js'
import { honourBy } from '../../shared/revocation.js'

// Two numbers of the team's: A (the stand-ins' own) and B.
const A = OUR_NUMBER
const B = '+14155550199'
const CUSTOMER = '+14155550177'
const SECRET = 'series-secret-0123456789'
const WELCOME = 'Hi {{first_name|there}}, welcome to Acme!'
const env = { TWILIO_PHONE_NUMBER: `${A},${B}`, SERIES_WEBHOOK_SECRET: SECRET, WELCOME_SMS_TEMPLATE: WELCOME }

const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
const notes = (ctx: TestApp) =>
  ctx.intercom.conversations.flatMap((c) => c.parts.filter((p) => p.part_type === 'note').map((p) => p.body ?? ''))
const consent = (ctx: TestApp) => ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', CUSTOMER).executeTakeFirst()
const requests = (ctx: TestApp) => ctx.app.store.db.selectFrom('revocation_requests').selectAll().where('phone', '=', CUSTOMER).execute()
const automated = (ctx: TestApp, key: string) =>
  ctx.app.store.db.selectFrom('automated_sends').selectAll().where('key', '=', key).executeTakeFirst()

async function text(ctx: TestApp, to: string, body: string) {
  const res = await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, To: to, Body: body }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
}

async function seriesStep(ctx: TestApp, contactId: string, stepId: string) {
  const payload = { contact_id: contactId, step_id: stepId, message: 'Our sale starts today' }
  const res = await ctx.app.inject({ method: 'POST', url: '/intercom/series', headers: { 'x-bridge-secret': SECRET }, payload })
  if (res.statusCode !== 202) throw new Error(res.body)
  await drain(ctx.app)
  return automated(ctx, `series:${stepId}:${contactId}`)
}

/** A user from the team's own systems with the customer's number: automated texts may go to them. */
async function teamUser(ctx: TestApp) {
  const user = ctx.intercom.addContact({ role: 'user', external_id: 'crm-1', name: 'Ana Lima', phone: CUSTOMER })
  const res = await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', user.id))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  return user
}

/** A Canvas Kit submit from the inbox, as Intercom posts it: signed, with the canvas (and its nonce) it was clicked in. */
async function panel(ctx: TestApp, contactId: string, conversationId: string, component?: string) {
  const base = {
    workspace_id: 'abc123xy',
    workspace_region: 'us',
    admin: { type: 'admin', id: ctx.intercom.admin.id, name: 'Sam Agent', email: 'sam@example.com' },
    conversation: { type: 'conversation', id: conversationId, state: 'open' },
    contact: { type: 'contact', id: contactId, role: 'lead' },
    context: { conversation_id: Number(conversationId), location: 'inbox', locale: 'en' },
  }
  const post = async (url: string, body: unknown) => {
    const res = await postCanvas(ctx, url, body)
    if (res.statusCode !== 200) throw new Error(res.body)
    return res.json().canvas as { content: { components: { id?: string; type: string; text?: string; label?: string }[] } }
  }
  const shown = await post('/canvas/inbox/initialize', base)
  if (!component) return shown
  const answer = await post('/canvas/inbox/submit', { ...base, component_id: component, current_canvas: shown })
  await drain(ctx.app)
  return answer
}
const ids = (c: Awaited<ReturnType<typeof panel>>) => c.content.components.map((x) => x.id)
const wording = (c: Awaited<ReturnType<typeof panel>>) => c.content.components.map((x) => x.text ?? '').join('\n')

t.test('a STOP to number A stops welcome and Series texts from number B; START to B reverses it', async (t) => {
  const ctx = await buildTestApp(t, { env })
  await text(ctx, B, 'Hi, question about my order')
  await text(ctx, A, 'STOP')
  t.match(await consent(ctx), { state: 'opted_out', source: 'keyword' })
  const user = await teamUser(ctx)
  t.match(await automated(ctx, `welcome:${user.id}`), { status: 'skipped', reason: /opted out/ }, 'no welcome')
  t.match(await seriesStep(ctx, user.id, 'promo'), { status: 'skipped', reason: /opted out/ }, 'no Series step')
  t.equal(sent(ctx).length, 0, 'nothing went from either number')

  await text(ctx, B, 'START')
  t.match(await consent(ctx), { state: 'opted_in', source: 'keyword' })
  t.match(await seriesStep(ctx, user.id, 'promo-2'), { status: 'sent' })
  t.same(
    sent(ctx).map((m) => [m.to, m.body]),
    [[CUSTOMER, 'Our sale starts today']],
  )
})

t.test('a phrase that reads as a request to stop is flagged with its deadline, never acted on by itself', async (t) => {
  const ctx = await buildTestApp(t, { env })
  await text(ctx, A, 'Please stop texting me')
  t.equal(await consent(ctx), undefined, 'not opted out on a guess')
  const [request] = await requests(ctx)
  const message = await ctx.app.store.db.selectFrom('messages').selectAll().where('id', '=', request!.message_id).executeTakeFirstOrThrow()
  const deadline = honourBy(message.created_at)
  t.match(request, { phrase: 'stop texting', honour_by: deadline, resolved_at: null })
  t.match(notes(ctx), [new RegExp(`may be a request to stop texts.*honour it by <b>${deadline}</b> \\(10 business days`)])
  // Twilio posts the same text again: still one request, one note.
  const form = inboundForm(ctx, { From: CUSTOMER, To: A, Body: 'No more messages please' })
  await postSms(ctx, form)
  await postSms(ctx, form)
  await drain(ctx.app)
  t.equal((await requests(ctx)).length, 2, 'one per text')
  t.equal(notes(ctx).length, 2)
  // Words that only look like it.
  await text(ctx, A, "Don't stop, can you stop by the store?")
  t.equal((await requests(ctx)).length, 2)

  // A STOP settles the pending requests; a phrase after that is not flagged again.
  await text(ctx, B, 'STOP')
  t.same(
    (await requests(ctx)).map((r) => r.resolution),
    ['opted_out', 'opted_out'],
  )
  await text(ctx, A, 'unsubscribe me please')
  t.equal((await requests(ctx)).length, 2)
})

t.test("the sidebar shows a pending request; a teammate's opt-out stops every automated text from every number", async (t) => {
  const ctx = await buildTestApp(t, { env })
  const user = await teamUser(ctx)
  t.match(await automated(ctx, `welcome:${user.id}`), { status: 'sent' })
  await text(ctx, B, 'Deja de enviarme mensajes')
  const conversation = ctx.intercom.conversations[0]!
  const [request] = await requests(ctx)
  const shown = await panel(ctx, user.id, conversation.id)
  const asked = new Date(request!.asked_at).toISOString().slice(0, 10)
  t.match(wording(shown), `Asked to stop texts on ${asked}: honour by ${request!.honour_by}`)
  t.ok(ids(shown).includes('opt_out_number') && ids(shown).includes('dismiss_revocation'))

  const after = await panel(ctx, user.id, conversation.id, 'opt_out_number')
  t.match(wording(after), /is opted out: no text goes to it from any of our numbers/)
  t.notOk(ids(after).includes('opt_out_number'), 'the request is settled')
  t.match(await consent(ctx), { state: 'opted_out', source: `teammate:${ctx.intercom.admin.id}` })
  t.match(await requests(ctx), [{ resolution: 'opted_out' }])
  const ledger = await ctx.app.store.db.selectFrom('consent_events').selectAll().where('phone', '=', CUSTOMER).orderBy('id').execute()
  t.match(
    ledger.at(-1),
    {
      state: 'opted_out',
      source: `teammate:${ctx.intercom.admin.id}`,
      text: /deja de enviarme mensajes/i,
      conversation_id: conversation.id,
    },
    'the ledger keeps who acted, on what words',
  )
  t.equal(ctx.intercom.contacts.find((c) => c.id === user.id)?.custom_attributes.sms_opted_out, true, 'Intercom is told')
  t.match(notes(ctx).at(-1), /Sam Agent opted this number out of text messages/)
  t.match(await seriesStep(ctx, user.id, 'promo'), { status: 'skipped', reason: /opted out/ })
  t.equal(sent(ctx).length, 1, 'only the welcome, before')

  // The customer alone takes it back, on either number.
  await text(ctx, A, 'START')
  t.match(await seriesStep(ctx, user.id, 'promo-2'), { status: 'sent' })
})

t.test('"Not a request" dismisses it; nothing else changes', async (t) => {
  const ctx = await buildTestApp(t, { env })
  await text(ctx, A, 'keine SMS mehr bitte')
  const conversation = ctx.intercom.conversations[0]!
  const contact = ctx.intercom.contacts[0]!
  const after = await panel(ctx, contact.id, conversation.id, 'dismiss_revocation')
  t.match(wording(after), /Marked as not a request/)
  t.notOk(ids(after).includes('revocation'))
  t.match(await requests(ctx), [{ resolution: `dismissed:${ctx.intercom.admin.id}` }])
  t.equal(await consent(ctx), undefined)
  // The button again (another teammate's stale panel): nothing pending, nothing recorded.
  const again = await panel(ctx, contact.id, conversation.id, 'opt_out_number')
  t.match(wording(again), /Nothing to answer any more/)
  t.equal(await consent(ctx), undefined)
})

t.test('an erasure request removes the flagged words with the rest of the person', async (t) => {
  const ctx = await buildTestApp(t, { env })
  await text(ctx, A, 'please stop texting me')
  t.equal((await requests(ctx)).length, 1, 'flagged')
  await erasePerson({ store: ctx.app.store }, { phone: CUSTOMER }, Date.now())
  t.same(await requests(ctx), [], 'their words are gone')
})
