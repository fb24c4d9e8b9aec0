import t, { type Test } from 'tap'
import { canvasResponse, type CanvasResponse, type Component } from '../../canvas/schema.js'
import { buildTestApp, drain, inboundForm, OUR_NUMBER, postSms, postStatus, type TestApp } from '../helper.js'
import { signCanvas } from '../../sandbox/intercom/index.js'

const CUSTOMER = '+14155550123'

/** Real-shaped Canvas Kit request bodies, as Intercom posts them. */
function inboxRequest(
  ctx: TestApp,
  contactId: string,
  conversationId: string | null,
  extra: Record<string, unknown> = {},
  naming: 'contact' | 'customer' = 'contact',
) {
  return {
    workspace_id: 'abc123xy',
    workspace_region: 'us',
    admin: { type: 'admin', id: ctx.intercom.admin.id, name: 'Sam Agent', email: 'sam@example.com' },
    conversation: conversationId ? { type: 'conversation', id: conversationId, state: 'open' } : null,
    [naming]: { type: 'contact', id: contactId, role: 'lead' },
    context: { conversation_id: conversationId ? Number(conversationId) : null, location: 'inbox', locale: 'en' },
    ...extra,
  }
}

// As Intercom does, a submit carries the canvas the button was clicked in (`current_canvas`, with
// the stored data the bridge put there): the last canvas each app answered, or, when none was shown
// yet, the one its initialize answers (a teammate or visitor always sees a canvas before clicking).
const lastCanvas = new WeakMap<TestApp, unknown>()

async function post(ctx: TestApp, path: string, body: unknown, signature?: string | null) {
  const b = body as Record<string, unknown> | null
  if (b && typeof b === 'object' && b.component_id && !('current_canvas' in b)) {
    if (!lastCanvas.has(ctx))
      await post(ctx, path.replace(/submit$/, 'initialize'), { ...b, component_id: undefined, input_values: undefined })
    body = { ...b, current_canvas: lastCanvas.get(ctx) ?? null }
  }
  const raw = JSON.stringify(body)
  const sig = signature === undefined ? signCanvas(ctx.intercom.clientSecret, raw) : signature
  const res = await ctx.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/json', ...(sig === null ? {} : { 'x-body-signature': sig }) },
    payload: raw,
  })
  try {
    const canvas = res.json()?.canvas
    if (canvas) lastCanvas.set(ctx, canvas)
  } catch {
    // not JSON: nothing to remember
  }
  return res
}

/** Posts and checks the answer is a valid canvas; returns it. */
async function canvasOf(t: Test, ctx: TestApp, path: string, body: unknown): Promise<CanvasResponse> {
  const res = await post(ctx, path, body)
  t.equal(res.statusCode, 200, `${path} answers 200`)
  const parsed = canvasResponse.safeParse(res.json())
  t.ok(parsed.success, `${path} answers a valid canvas${parsed.success ? '' : `: ${JSON.stringify(parsed.error.issues)}`}`)
  return res.json()
}

const components = (c: CanvasResponse) => c.canvas.content.components
const byId = (c: CanvasResponse, id: string) =>
  components(c).find((x) => 'id' in x && x.id === id) as (Component & Record<string, any>) | undefined
const texts = (c: CanvasResponse) =>
  components(c)
    .filter((x) => x.type === 'text')
    .map((x) => (x as { text: string }).text)
    .join('\n')

async function customerWhoTexted(ctx: TestApp) {
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Hi, where is my parcel?' }))
  await drain(ctx.app)
  return { contact: ctx.intercom.contacts[0]!, conversation: ctx.intercom.conversations[0]! }
}

t.test('every endpoint checks X-Body-Signature', async (t) => {
  const ctx = await buildTestApp(t)
  for (const path of ['/canvas/inbox/initialize', '/canvas/inbox/submit', '/canvas/messenger/initialize', '/canvas/messenger/submit']) {
    const body = inboxRequest(ctx, 'abc', '1')
    t.equal((await post(ctx, path, body, null)).statusCode, 401, `${path}: missing`)
    t.equal((await post(ctx, path, body, signCanvas('wrong', JSON.stringify(body)))).statusCode, 401, `${path}: wrong secret`)
    t.equal(
      (await post(ctx, path, body, `sha256=${signCanvas(ctx.intercom.clientSecret, JSON.stringify(body))}`)).statusCode,
      401,
      `${path}: prefixed`,
    )
  }
})

t.test('the inbox panel: phone, consent, last texts with status and sid, compose; from our database only', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Hi {{first_name|there}}!', INTERCOM_WORKSPACE_ID: 'abc123xy' } })
  const { contact, conversation } = await customerWhoTexted(ctx)
  const before = ctx.intercom.requests.length
  for (const naming of ['contact', 'customer'] as const) {
    const c = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, conversation.id, {}, naming))
    t.match(byId(c, 'phone')?.text, '+1 415 555 0123', `${naming}: the number, formatted for reading`)
    t.equal(byId(c, 'consent')?.text, 'Can be texted.')
    const items = byId(c, 'messages')?.items
    t.equal(items.length, 1)
    t.match(items[0], {
      title: '← Hi, where is my parcel?',
      subtitle: /^Received · \d{4}-\d\d-\d\d \d\d:\d\d UTC$/,
      tertiary_text: /^SM[0-9a-f]{32}$/,
    })
    t.ok(byId(c, 'sms_body') && byId(c, 'send_sms') && byId(c, 'send_welcome') && byId(c, 'refresh'), 'compose, welcome and refresh')
  }
  t.equal(ctx.intercom.requests.length, before, 'initialize made no Intercom call')
})

t.test('Send SMS: inline errors for empty and over-long texts; otherwise queued, sent, threaded and noted', async (t) => {
  const ctx = await buildTestApp(t)
  const { contact, conversation } = await customerWhoTexted(ctx)
  const submit = (body: string) =>
    canvasOf(
      t,
      ctx,
      '/canvas/inbox/submit',
      inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_sms', input_values: { sms_body: body } }),
    )

  const empty = await submit('   ')
  t.match(byId(empty, 'sms_error')?.text, 'Write a message first.')
  t.equal(byId(empty, 'sms_body')?.error, true)
  const long = await submit('x'.repeat(1601))
  t.match(byId(long, 'sms_error')?.text, /Too long: 1601 characters/)
  t.equal(byId(long, 'sms_body')?.value, 'x'.repeat(1601), 'the draft is kept')
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 0, 'nothing sent')

  const ok = await submit('Your parcel arrives tomorrow 📦')
  t.match(byId(ok, 'notice')?.text, 'Queued: 1 segment (UCS-2).')
  t.match(byId(ok, 'segments')?.text, '1 segment (UCS-2)')
  t.match(byId(ok, 'messages')?.items[0], { title: '→ Your parcel arrives tomorrow 📦', subtitle: /^Sending/ }, 'shown as queued at once')
  await drain(ctx.app)
  const [sent] = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
  t.match(sent, { to: CUSTOMER, body: 'Your parcel arrives tomorrow 📦' })
  t.match(
    ctx.intercom
      .conversation(conversation.id)!
      .parts.filter((p) => p.part_type === 'note')
      .at(-1)?.body,
    /Sent by SMS from the sidebar by Sam Agent/,
  )

  await postStatus(ctx, { MessageSid: sent!.sid, MessageStatus: 'delivered' })
  const refreshed = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'refresh' }),
  )
  t.match(byId(refreshed, 'messages')?.items[0], { subtitle: /^Delivered/, tertiary_text: sent!.sid })

  const details = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'details' }),
  )
  t.match(JSON.stringify(byId(details, 'details_table')), sent!.sid)
})

t.test('a text sent from another conversation makes it the SMS conversation', async (t) => {
  const ctx = await buildTestApp(t)
  const { contact } = await customerWhoTexted(ctx)
  const email = await ctx.app.clients.intercom.conversations.create({ from: { type: 'lead', id: contact.id }, body: 'from the web' })
  await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, email.conversation_id, { component_id: 'send_sms', input_values: { sms_body: 'Switching to SMS' } }),
  )
  await drain(ctx.app)
  const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.equal(link.intercom_conversation_id, email.conversation_id)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'ok!' }))
  await drain(ctx.app)
  t.equal(
    ctx.intercom
      .conversation(email.conversation_id)!
      .parts.filter((p) => p.part_type === 'comment')
      .at(-1)?.body,
    'ok!',
    'the reply threads there',
  )
})

t.test('opted out: the panel says since when, and sending is refused', async (t) => {
  const ctx = await buildTestApp(t)
  const { contact, conversation } = await customerWhoTexted(ctx)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'STOP' }))
  await drain(ctx.app)
  const c = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, conversation.id))
  // How and since when, from the ledger: the word, and which of our numbers it reached.
  t.match(byId(c, 'consent'), {
    style: 'error',
    text: new RegExp(
      `^Opted out \\d{1,2} [A-Z][a-z]{2} \\d{4} by texting STOP to \\${OUR_NUMBER}\\. They must text START to receive texts again\\.$`,
    ),
  })
  t.notOk(byId(c, 'send_sms'), 'no Send button')
  const forced = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_sms', input_values: { sms_body: 'hello?' } }),
  )
  t.match(byId(forced, 'sms_error')?.text, /^Not sent: The customer opted out/)
  await drain(ctx.app)
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 0)
})

t.test('a contact without a number: add one, validated, saved on the contact and our link', async (t) => {
  const ctx = await buildTestApp(t, { env: { DEFAULT_COUNTRY: 'US' } })
  const contact = ctx.intercom.addContact({ role: 'user', email: 'new@example.com' })
  const first = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, null))
  t.ok(byId(first, 'phone_input') && byId(first, 'save_phone'))
  t.notOk(byId(first, 'send_sms'))
  const bad = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, null, { component_id: 'save_phone', input_values: { phone_input: '12' } }),
  )
  t.match(byId(bad, 'phone_error')?.text, /not a phone number/)
  t.equal(byId(bad, 'phone_input')?.save_state, 'failed')
  const landline = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, null, { component_id: 'save_phone', input_values: { phone_input: '+44 20 7183 8750' } }),
  )
  t.match(byId(landline, 'phone_error')?.text, /cannot receive texts/)
  const ok = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, null, { component_id: 'save_phone', input_values: { phone_input: '(415) 555-0177' } }),
  )
  t.match(byId(ok, 'phone')?.text, '+1 415 555 0177', 'the panel shows our link at once')
  await drain(ctx.app)
  t.equal(contact.phone, '+14155550177', 'saved on the Intercom contact by the job that follows')
})

t.test('saving a number answers at once; when Intercom refuses it for good, the conversation says so and our link stands', async (t) => {
  const ctx = await buildTestApp(t, { env: { DEFAULT_COUNTRY: 'US' } })
  const { contact, conversation } = await customerWhoTexted(ctx)
  ctx.intercom.failNext({
    status: 400,
    body: { type: 'error.list', errors: [{ code: 'parameter_invalid', message: 'Phone is invalid' }] },
    match: { method: 'PUT', path: new RegExp(`/contacts/${contact.id}$`) },
  })
  const before = ctx.intercom.requests.length
  const saved = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'save_phone', input_values: { phone_input: '+1 415 555 0199' } }),
  )
  t.match(byId(saved, 'notice')?.text, 'Number saved.')
  t.equal(
    ctx.intercom.requests.slice(before).filter((r) => r.method !== 'GET').length,
    0,
    'nothing was written to Intercom while the teammate waited',
  )
  await drain(ctx.app)
  const [dead] = await ctx.app.store.db.selectFrom('jobs').selectAll().where('state', '=', 'dead').execute()
  t.equal(dead?.task, 'contact.save_phone', 'a refusal is not retried')
  const note = ctx.intercom
    .conversation(conversation.id)!
    .parts.filter((p) => p.part_type === 'note')
    .at(-1)?.body
  t.match(note, /\+1 415 555 0199<\/b>|\+1 415 555 0199 could not be saved on the Intercom contact/)
  t.match(note, /Phone is invalid/, "with Intercom's reason")
  const link = await ctx.app.store.db
    .selectFrom('phone_contacts')
    .select('intercom_contact_id')
    .where('phone', '=', '+14155550199')
    .executeTakeFirst()
  t.equal(link?.intercom_contact_id, contact.id, 'texts from the number thread to this contact')
})

t.test('Send welcome SMS: the same once-only path as the automatic one', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Hi {{first_name|there}}, welcome!', WELCOME_BRIDGE_CONTACTS: 'true' } })
  const { contact, conversation } = await customerWhoTexted(ctx)
  const first = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_welcome' }),
  )
  t.match(byId(first, 'notice')?.text, 'Welcome SMS queued.')
  await drain(ctx.app)
  const second = await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_welcome' }),
  )
  t.match(byId(second, 'notice')?.text, 'already sent')
  t.match(byId(second, 'welcome')?.text, /^Welcome SMS sent /)
  t.notOk(byId(second, 'send_welcome'), 'no button once sent')
  t.same(
    ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => m.body),
    ['Hi there, welcome!'],
  )
  const record = await ctx.app.store.db.selectFrom('automated_sends').selectAll().executeTakeFirstOrThrow()
  t.match(record, { key: `welcome:${contact.id}`, requested_by: `admin:${ctx.intercom.admin.id}`, status: 'sent' })
})

t.test('failed texts show the reason in plain words', async (t) => {
  const ctx = await buildTestApp(t)
  const { contact, conversation } = await customerWhoTexted(ctx)
  ctx.twilio.rejectRecipient(CUSTOMER, 21614)
  await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_sms', input_values: { sms_body: 'hello' } }),
  )
  await drain(ctx.app)
  const c = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, conversation.id))
  t.match(byId(c, 'messages')?.items[0]?.subtitle, /^Failed: The number is not a mobile number/)
})

t.test('errors still answer a canvas with Refresh; requests without a contact too', async (t) => {
  const ctx = await buildTestApp(t)
  const noContact = await canvasOf(t, ctx, '/canvas/inbox/initialize', { workspace_id: 'abc123xy', admin: { id: '1' } })
  t.match(texts(noContact), /did not say which contact/)
  t.ok(byId(noContact, 'refresh'))
  await ctx.app.store.close()
  const broken = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, 'abc', '1'))
  t.match(texts(broken), /Something went wrong/)
  t.ok(byId(broken, 'refresh'))
})

t.test('Messenger: a visitor leaves a number and consent, proves it with the texted code; saved once, confirmed by one text', async (t) => {
  const ctx = await buildTestApp(t, { env: { SMS_CONSENT: 'required' } })
  const visitor = ctx.intercom.addContact({ role: 'lead', name: 'Vi' })
  const messengerRequest = (component_id: string, input_values: Record<string, unknown>) => ({
    workspace_id: 'abc123xy',
    component_id,
    input_values,
    user: { type: 'user', id: visitor.id },
    context: { location: 'conversation', locale: 'en' },
  })
  const card = await canvasOf(t, ctx, '/canvas/messenger/initialize', {
    workspace_id: 'abc123xy',
    card_creation_options: {},
    context: { location: 'home' },
  })
  t.ok(byId(card, 'phone') && byId(card, 'consent') && byId(card, 'subscribe'))
  // Canvas Kit requires a checkbox's label; without one Intercom refuses the card.
  t.match(byId(card, 'consent'), { type: 'checkbox', label: /\S/ }, 'the consent checkbox has a label')

  const noConsent = await canvasOf(t, ctx, '/canvas/messenger/submit', messengerRequest('subscribe', { phone: '+14155550188' }))
  t.match(byId(noConsent, 'consent_error')?.text, /tick the box/)
  const badPhone = await canvasOf(
    t,
    ctx,
    '/canvas/messenger/submit',
    messengerRequest('subscribe', { phone: 'call me', consent: ['agree'] }),
  )
  t.match(byId(badPhone, 'phone_error')?.text, /mobile number with its country code/)
  t.equal(byId(badPhone, 'phone')?.value, 'call me', 'what they typed is kept')

  const code = await canvasOf(
    t,
    ctx,
    '/canvas/messenger/submit',
    messengerRequest('subscribe', { phone: '+1 415 555 0188', consent: ['agree'] }),
  )
  t.match(texts(code), 'We texted a 6-digit code to +1 415 555 0188')
  const sent = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
  t.equal(sent.length, 1, 'the code, and nothing else yet')
  const typed = /^(\d{6}) is your verification code/.exec(sent[0]!.body)![1]!
  t.equal(visitor.phone, null, 'nothing saved before the number is proven')
  t.equal(await ctx.app.store.db.selectFrom('consent').selectAll().executeTakeFirst(), undefined)
  const stored = await ctx.app.store.db.selectFrom('phone_verifications').selectAll().executeTakeFirstOrThrow()
  t.notMatch(JSON.stringify(stored), typed, 'the code is stored only as a hash')
  t.notMatch(JSON.stringify(await ctx.app.store.db.selectFrom('messages').selectAll().execute()), typed, 'and not in the texts kept')

  const wrong = await canvasOf(
    t,
    ctx,
    '/canvas/messenger/submit',
    messengerRequest('verify', { code: typed === '000000' ? '111111' : '000000' }),
  )
  t.match(byId(wrong, 'code_error')?.text, /not right\. 4 tries left/)
  const done = await canvasOf(t, ctx, '/canvas/messenger/submit', messengerRequest('verify', { code: typed }))
  t.match(texts(done), 'We will text you at +1 415 555 0188')
  await drain(ctx.app)
  t.equal(visitor.phone, '+14155550188')
  t.equal(visitor.custom_attributes.sms_bridge_consent, true)
  const consent = await ctx.app.store.db.selectFrom('consent').selectAll().executeTakeFirstOrThrow()
  t.match(consent, { phone: '+14155550188', state: 'opted_in', consent_given: 1, source: 'messenger' })
  t.match(await ctx.app.store.db.selectFrom('consent_events').selectAll().execute(), [
    { phone: '+14155550188', state: 'opted_in', source: 'messenger', consent_given: 1, contact_id: visitor.id },
  ])
  const panel = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, visitor.id, null))
  t.match(
    byId(panel, 'consent')?.text,
    /^Can be texted\. Consent given \d{1,2} [A-Z][a-z]{2} \d{4} by verifying the number in the Messenger\.$/,
  )
  t.same(
    ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => m.to),
    ['+14155550188', '+14155550188'],
    'the code, then one confirmation text, even with SMS_CONSENT=required',
  )
  // The same verification cannot be used again.
  const again = await canvasOf(t, ctx, '/canvas/messenger/submit', messengerRequest('verify', { code: typed }))
  t.match(texts(again), /Start again/)
})

t.test('after a text failed because the number is a landline, the sidebar says what that means for the next text', async (t) => {
  const ctx = await buildTestApp(t)
  const { contact, conversation } = await customerWhoTexted(ctx)
  await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_sms', input_values: { sms_body: 'Your parcel is on its way' } }),
  )
  await drain(ctx.app)
  // The carrier's verdict arrives as Twilio's status callback.
  const sent = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').at(-1)!
  const res = await postStatus(ctx, { MessageSid: sent.sid, MessageStatus: 'undelivered', ErrorCode: '30006', To: CUSTOMER })
  t.equal(res.statusCode, 204, 'the callback is accepted')
  await drain(ctx.app)
  const failed = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, conversation.id))
  t.equal(
    byId(failed, 'consent')?.text,
    'The last text did not arrive: this number is a landline or cannot receive texts. The next text will fail the same way: save a mobile number, or reach the customer another way.',
  )
  t.equal(byId(failed, 'consent')?.style, 'error')
  t.notMatch(texts(failed), 'Can be texted.')
  t.ok(byId(failed, 'send_sms'), 'a teammate may still try')

  // Once a text is delivered again, the number can be texted again.
  await canvasOf(
    t,
    ctx,
    '/canvas/inbox/submit',
    inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_sms', input_values: { sms_body: 'Second try' } }),
  )
  await drain(ctx.app)
  const second = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').at(-1)!
  await postStatus(ctx, { MessageSid: second.sid, MessageStatus: 'delivered', To: CUSTOMER })
  await drain(ctx.app)
  const delivered = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, conversation.id))
  t.equal(byId(delivered, 'consent')?.text, 'Can be texted.')
})

t.test('a skipped welcome is history: what stood in the way then, never stale advice', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Hi, welcome!', WELCOME_BRIDGE_CONTACTS: 'true' } })
  const { contact, conversation } = await customerWhoTexted(ctx)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'STOP' }))
  await drain(ctx.app)
  await canvasOf(t, ctx, '/canvas/inbox/submit', inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_welcome' }))
  await drain(ctx.app)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'START' }))
  await drain(ctx.app)
  const after = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, conversation.id))
  t.match(
    byId(after, 'welcome')?.text,
    /^The welcome SMS was not sent \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\): The customer opted out of text messages \(texted STOP, [^)]*\)\.$/,
  )
  t.notMatch(texts(after), /must text START/, 'no advice that no longer applies')
})

t.test('canvas text is markdown: setting names and country names come through as written', async (t) => {
  const ctx = await buildTestApp(t, {
    env: { WELCOME_SMS_TEMPLATE: 'Hi, welcome!', WELCOME_BRIDGE_CONTACTS: 'true', SMS_ALLOWED_COUNTRIES: 'GB' },
  })
  const { contact, conversation } = await customerWhoTexted(ctx)
  await canvasOf(t, ctx, '/canvas/inbox/submit', inboxRequest(ctx, contact.id, conversation.id, { component_id: 'send_welcome' }))
  await drain(ctx.app)
  const after = await canvasOf(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, contact.id, conversation.id))
  t.match(
    byId(after, 'welcome')?.text,
    /: Automated texts to United States \(US\) are not allowed \(SMS\\_ALLOWED\\_COUNTRIES: United Kingdom \(GB\)\)\.$/,
    'underscores escaped, countries named',
  )
})
