// What real Intercom and Twilio traffic does that our first reading of the docs missed (issue 13):
// each behaviour through the real app, with the stand-ins emitting the shapes real accounts send.
import t from 'tap'
import {
  buildTestApp,
  drain,
  inboundForm,
  OUR_NUMBER,
  postCanvas,
  postIntercomWebhook,
  postSms,
  postStatus,
  PUBLIC_URL,
  type TestApp,
} from '../helper.js'

const CUSTOMER = '+14155550123'
const ADMIN_TOKEN = 'admin-token-0123456789abcdef'

async function smsConversation(ctx: TestApp, from = CUSTOMER, body = 'Hi, I need help'): Promise<string> {
  const res = await postSms(ctx, inboundForm(ctx, { From: from, Body: body }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  const contact = ctx.intercom.contacts.find((x) => x.phone === from.replace(/^whatsapp:/, ''))!
  return ctx.intercom.conversations.filter((c) => c.contacts[0]!.id === contact.id).at(-1)!.id
}

async function deliver(ctx: TestApp, payload: unknown) {
  const res = await postIntercomWebhook(ctx, payload)
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  await drain(ctx.app)
  return res
}

const textsTo = (ctx: TestApp, phone = CUSTOMER) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === phone)
const notes = (ctx: TestApp, id: string) =>
  ctx.intercom
    .conversation(id)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body ?? '')

t.test('a teammate reply is texted whatever its part type: assignment, open, close with a message; never a note', async (t) => {
  const ctx = await buildTestApp(t)
  const id = await smsConversation(ctx)

  // The first reply in the unassigned conversation the bridge opened assigns it.
  const first = ctx.intercom.addAdminReply(id, { body: '<p>Hi, Sam here.</p>' })
  t.equal(first.part_type, 'assignment', 'Intercom records it as an assignment')
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [first]))
  t.same(
    textsTo(ctx).map((m) => m.body),
    ['Hi, Sam here.'],
  )

  // Closing with a message to the customer: the message is texted, and the conversation is closed.
  const { part: close } = await ctx.intercom.closeAsAdmin(id, '<p>Closing this out, write any time.</p>')
  await deliver(ctx, ctx.intercom.notification('conversation.admin.closed', id, [close]))
  t.same(
    textsTo(ctx)
      .map((m) => m.body)
      .at(-1),
    'Closing this out, write any time.',
  )
  const closed = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.ok(closed.closed_at, 'closed in the bridge too')

  // A reply in the closed conversation reopens it: an `open` part.
  const reopening = ctx.intercom.addAdminReply(id, { body: '<p>One more thing.</p>' })
  t.equal(reopening.part_type, 'open')
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [reopening]))
  t.same(
    textsTo(ctx)
      .map((m) => m.body)
      .at(-1),
    'One more thing.',
  )
  const reopened = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.equal(reopened.closed_at, null, "the bridge's view follows Intercom's: open again")

  // Not texts: a note, a bare assignment, a close without a message.
  const note = ctx.intercom.addAdminReply(id, { body: '<p>internal</p>', partType: 'note' })
  const assign = ctx.intercom.addAdminReply(id, { body: '', partType: 'assignment' })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [note, { ...assign, body: null }]))
  const { part: silentClose } = await ctx.intercom.closeAsAdmin(id)
  await deliver(ctx, ctx.intercom.notification('conversation.admin.closed', id, [silentClose]))
  t.equal(textsTo(ctx).length, 3, 'three texts, no more')
})

t.test("a close notification older than the customer's newest text does not close the conversation again", async (t) => {
  const ctx = await buildTestApp(t)
  const id = await smsConversation(ctx)
  const { part: close } = await ctx.intercom.closeAsAdmin(id)
  const stale = ctx.intercom.notification('conversation.admin.closed', id, [close]) as { data: { item: { updated_at: number } } }
  stale.data.item.updated_at -= 3600 // Intercom closed it an hour before the text below arrived
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'are you there?' }))
  await drain(ctx.app)
  await deliver(ctx, stale)
  const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.equal(link.closed_at, null)
})

t.test('a teammate reopening a conversation is noticed (conversation.admin.opened)', async (t) => {
  const ctx = await buildTestApp(t)
  const id = await smsConversation(ctx)
  await deliver(ctx, ctx.intercom.notification('conversation.admin.closed', id, [(await ctx.intercom.closeAsAdmin(id)).part]))
  t.ok((await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()).closed_at)
  await deliver(ctx, ctx.intercom.notification('conversation.admin.opened', id, [(await ctx.intercom.openAsAdmin(id)).part]))
  t.equal((await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()).closed_at, null)
  t.equal(textsTo(ctx).length, 0, 'reopening alone texts nothing')
})

t.test('pictures inside the reply body go out as MMS from the bridge; a picture-only reply sends the picture', async (t) => {
  const ctx = await buildTestApp(t)
  const id = await smsConversation(ctx)
  const jpeg = Buffer.from('ffd8ffe000104a464946', 'hex')
  const src = ctx.intercom.upload({ name: 'photo.jpg', contentType: 'image/jpeg', data: jpeg })
  const reply = ctx.intercom.addAdminReply(id, { body: `<p>Is it this one?</p><div class="intercom-container"><img src="${src}"></div>` })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [reply]))
  const onlyPicture = ctx.intercom.addAdminReply(id, {
    body: `<div class="intercom-container"><img src="${src.replace('photo', 'photo')}" alt=""></div>`,
  })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [onlyPicture]))

  const [withText, pictureOnly] = textsTo(ctx)
  t.equal(withText?.body, 'Is it this one?')
  t.equal(withText?.num_media, '1')
  t.equal(pictureOnly?.body, '', 'a picture-only reply is the picture alone')
  t.equal(pictureOnly?.num_media, '1')
  const urls = ctx.twilio.requests
    .filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'))
    .map((r) => (r.body as { MediaUrl: string[] }).MediaUrl[0]!)
  t.ok(
    urls.every((u) => u.startsWith(`${PUBLIC_URL}/media/h`)),
    'bridge links, not the expiring Intercom link',
  )
  t.equal(urls[0], urls[1], 'one copy of one file')
  ctx.intercom.expireUploads()
  const served = await ctx.app.inject({ method: 'GET', url: urls[0]!.slice(PUBLIC_URL.length) })
  t.equal(served.statusCode, 200)
  t.same(served.rawPayload, jpeg, "still served after Intercom's link expired")
  t.equal((await ctx.app.store.db.selectFrom('held_media').select('id').execute()).length, 1)
})

t.test('a file whose Intercom link already expired: the text still goes and a note says what was left out', async (t) => {
  const ctx = await buildTestApp(t)
  const id = await smsConversation(ctx)
  const src = ctx.intercom.upload({ name: 'invoice.png', contentType: 'image/png', data: Buffer.from('png') })
  ctx.intercom.expireUploads()
  const reply = ctx.intercom.addAdminReply(id, { body: `<p>Here is the invoice</p><img src="${src}">` })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [reply]))
  t.same(
    textsTo(ctx).map((m) => [m.body, m.num_media]),
    [['Here is the invoice', '0']],
  )
  t.match(
    notes(ctx, id).join('\n'),
    /Not every file of this reply reached the customer.*invoice\.png: Intercom's link to it had expired.*The rest of the reply was texted/s,
  )

  const pictureOnly = ctx.intercom.addAdminReply(id, { body: `<img src="${src}">` })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [pictureOnly]))
  t.equal(textsTo(ctx).length, 1, 'nothing left to text')
  t.match(notes(ctx, id).at(-1), /no text was sent/, 'and the team is told so')
})

t.test("Intercom's test ping (id null) is answered 200 and stores nothing; every pasted URL answers HEAD and GET", async (t) => {
  const ctx = await buildTestApp(t)
  const ping = await postIntercomWebhook(ctx, ctx.intercom.pingNotification())
  t.equal(ping.statusCode, 200)
  const urls = [
    '/intercom/webhooks',
    '/twilio/sms',
    '/twilio/status',
    '/intercom/series',
    '/canvas/inbox/initialize',
    '/canvas/inbox/submit',
    '/canvas/messenger/initialize',
    '/canvas/messenger/submit',
  ]
  const tables = ['webhook_receipts', 'messages', 'jobs', 'settings_cache'] as const
  // What the start itself wrote (the recurring jobs, the catch-up's cursor) is there before and after.
  await drain(ctx.app)
  const snapshot = () => Promise.all(tables.map((table) => ctx.app.store.db.selectFrom(table).selectAll().execute()))
  const before = await snapshot()
  for (const url of urls) {
    for (const method of ['HEAD', 'GET'] as const) {
      const res = await ctx.app.inject({ method, url })
      t.equal(res.statusCode, 200, `${method} ${url}`)
    }
  }
  t.same(await snapshot(), before, 'nothing stored, nothing queued')
  t.same(
    before.slice(0, 2).map((rows) => rows.length),
    [0, 0],
    'no receipt, no text',
  )
})

t.test('a topic ticked by mistake is answered 200, stored nowhere, and counted in /metrics', async (t) => {
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN } })
  for (let i = 0; i < 3; i++) {
    const res = await postIntercomWebhook(ctx, {
      type: 'notification_event',
      id: `notif_u${i}`,
      topic: 'conversation.user.replied',
      data: { item: { type: 'conversation', id: '1' } },
    })
    t.equal(res.statusCode, 200)
  }
  t.equal((await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().execute()).length, 0)
  t.equal(
    (
      await ctx.app.store.db
        .selectFrom('jobs')
        .selectAll()
        .where('task', 'not like', 'maintenance%')
        .where('task', '!=', 'inbound.catchup')
        .execute()
    ).length,
    0,
  )
  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.match(metrics.body, /bridge_intercom_unhandled_topics_total\{topic="conversation\.user\.replied"\} 3/)
})

t.test('nested nulls Intercom sends (author id, attachment name and type) do not fail the notification', async (t) => {
  const ctx = await buildTestApp(t)
  const id = await smsConversation(ctx)
  const part = ctx.intercom.addAdminReply(id, { body: '<p>Sent from the mobile app</p>' })
  const payload = ctx.intercom.notification('conversation.admin.replied', id, [
    {
      ...part,
      author: { ...part.author, id: null, name: null, email: null },
      attachments: [{ type: 'upload', url: 'https://files.example.com/a.png', name: null, content_type: null }],
    } as never,
  ]) as { data: { item: Record<string, unknown> } }
  Object.assign(payload.data.item, {
    admin_assignee_id: null,
    team_assignee_id: null,
    title: null,
    source: { ...(payload.data.item.source as object), author: { type: 'lead', id: null } },
  })
  await deliver(ctx, payload)
  t.same(
    textsTo(ctx).map((m) => m.body),
    ['Sent from the mobile app'],
  )
  t.equal(textsTo(ctx)[0]!.num_media, '1')
})

t.test("a reply in a contact's older SMS conversation is texted too", async (t) => {
  const ctx = await buildTestApp(t)
  const older = await smsConversation(ctx)
  // Closed long ago: the next text opens a new conversation, which becomes the contact's SMS one.
  ctx.intercom.closeConversation(older)
  await ctx.app.store.transaction((trx) =>
    trx
      .updateTable('sms_conversations')
      .set({ closed_at: Date.now() - 30 * 86_400_000 })
      .execute(),
  )
  const newer = await smsConversation(ctx, CUSTOMER, 'new question')
  t.not(newer, older)
  const late = ctx.intercom.addAdminReply(older, { body: '<p>Answering your old question</p>' })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', older, [late]))
  t.same(
    textsTo(ctx).map((m) => m.body),
    ['Answering your old question'],
  )
})

t.test(
  'after a reply goes by text the conversation is marked read, so Intercom does not email it too; a setting turns it off',
  async (t) => {
    for (const [setting, expected] of [
      [undefined, true],
      ['false', false],
    ] as const) {
      const ctx = await buildTestApp(t, { env: setting ? { MARK_READ_AFTER_SMS: setting } : {} })
      const id = await smsConversation(ctx)
      const reply = ctx.intercom.addAdminReply(id, { body: '<p>On its way</p>' })
      await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [reply]))
      const puts = ctx.intercom.requests.filter((r) => r.method === 'PUT' && r.path === `/conversations/${id}`)
      t.equal(ctx.intercom.conversation(id)!.read ?? false, expected, `MARK_READ_AFTER_SMS=${setting ?? 'default'}`)
      t.same(
        puts.map((r) => r.body),
        expected ? [{ read: true }] : [],
      )
    }
    // Not when the text was refused: the customer opted out, so an email may be the only way through.
    const ctx = await buildTestApp(t)
    const id = await smsConversation(ctx)
    await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'STOP' }))
    await drain(ctx.app)
    await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: '<p>ok</p>' })]))
    t.equal(ctx.intercom.conversation(id)!.read ?? false, false)
  },
)

t.test("Advanced Opt-Out: Twilio's OptOutType is trusted, custom and localised keywords included", async (t) => {
  const ctx = await buildTestApp(t)
  const id = await smsConversation(ctx)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'ARRET', OptOutType: 'STOP', MessagingServiceSid: `MG${'c'.repeat(32)}` }))
  await drain(ctx.app)
  t.match(await ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', CUSTOMER).executeTakeFirst(), {
    state: 'opted_out',
    source: 'keyword',
  })
  const contact = ctx.intercom.contacts.find((c) => c.phone === CUSTOMER)!
  t.equal(contact.custom_attributes.sms_opted_out, true)
  t.match(notes(ctx, id).join(''), /opted out of text messages/)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'COMMENCER', OptOutType: 'START' }))
  await drain(ctx.app)
  t.match(await ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', CUSTOMER).executeTakeFirst(), { state: 'opted_in' })
  t.equal(contact.custom_attributes.sms_opted_out, false)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'AIDE', OptOutType: 'HELP' }))
  await drain(ctx.app)
  t.match(notes(ctx, id).at(-1), /asked for help/)
})

t.test('WhatsApp: found by the bare number, answered on WhatsApp from the sender texted, failures in plain words', async (t) => {
  const WA_SENDER = 'whatsapp:+14155238886'
  const ctx = await buildTestApp(t)
  const known = ctx.intercom.addContact({ role: 'user', email: 'ana@example.com', phone: CUSTOMER })
  const res = await postSms(
    ctx,
    inboundForm(ctx, { From: `whatsapp:${CUSTOMER}`, To: WA_SENDER, Body: 'Hola from WhatsApp', ProfileName: 'Ana', WaId: '14155550123' }),
  )
  t.equal(res.statusCode, 200)
  await drain(ctx.app)
  t.equal(ctx.intercom.contacts.length, 1, 'no phone-less duplicate lead')
  const conversation = ctx.intercom.conversations.find((c) => c.contacts[0]!.id === known.id)!
  t.equal(conversation.source.body, 'Hola from WhatsApp')

  const reply = ctx.intercom.addAdminReply(conversation.id, { body: '<p>Hola Ana</p>' })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', conversation.id, [reply]))
  const [sent] = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
  t.match(sent, { to: `whatsapp:${CUSTOMER}`, from: WA_SENDER, body: 'Hola Ana' }, 'the same channel, from the WhatsApp sender')

  // Past the 24-hour window WhatsApp refuses free-form messages (63016, in the status callback).
  const late = ctx.intercom.addAdminReply(conversation.id, { body: '<p>Following up</p>' })
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', conversation.id, [late]))
  const second = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').at(-1)!
  await postStatus(ctx, {
    MessageSid: second.sid,
    MessageStatus: 'failed',
    ErrorCode: '63016',
    To: second.to,
    From: WA_SENDER,
    ChannelPrefix: 'whatsapp',
  })
  await drain(ctx.app)
  t.match(notes(ctx, conversation.id).at(-1), /24 hours of the customer's last message/)
})

t.test('WhatsApp with a Messaging Service still answers from the WhatsApp sender', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: `MG${'d'.repeat(32)}` } })
  const id = await smsConversation(ctx, `whatsapp:${CUSTOMER}`)
  await deliver(ctx, ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: 'hi' })]))
  const [sent] = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
  t.match(sent, { to: `whatsapp:${CUSTOMER}`, from: OUR_NUMBER.replace(/^/, 'whatsapp:'), messaging_service_sid: null })
})

t.test(
  'RCS: a customer writing as rcs:+E164 is the contact of their number; replies go through the Messaging Service to that number',
  async (t) => {
    const SERVICE = `MG${'e'.repeat(32)}`
    const ctx = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE } })
    // As Twilio describes RCS inbound (a Messaging Service with an RCS sender): both ends carry rcs:.
    const res = await postSms(
      ctx,
      inboundForm(ctx, { From: `rcs:${CUSTOMER}`, To: 'rcs:acme_support_agent', MessagingServiceSid: SERVICE, Body: 'Hi from RCS' }),
    )
    t.equal(res.statusCode, 200, "stored, not refused: an RCS text is a customer's text")
    await drain(ctx.app)
    t.equal(ctx.intercom.contacts.length, 1)
    t.equal(ctx.intercom.contacts[0]!.phone, CUSTOMER, 'the contact of the bare number')
    // The same person by SMS threads into the same conversation.
    const id = await smsConversation(ctx, CUSTOMER, 'and by SMS')
    t.equal(ctx.intercom.conversations.length, 1)
    t.same(
      [
        ctx.intercom.conversation(id)!.source.body,
        ...ctx.intercom
          .conversation(id)!
          .parts.filter((p) => p.part_type === 'comment')
          .map((p) => p.body),
      ],
      ['Hi from RCS', 'and by SMS'],
    )
    await deliver(
      ctx,
      ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: '<p>Got it</p>' })]),
    )
    const [sent] = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
    t.match(sent, { to: CUSTOMER, messaging_service_sid: SERVICE, body: 'Got it' }, 'Twilio picks RCS or falls back to SMS')

    // Without a Messaging Service the reply goes by SMS from our number.
    const plain = await buildTestApp(t)
    await postSms(plain, inboundForm(plain, { From: `rcs:${CUSTOMER}`, To: 'rcs:acme_support_agent', Body: 'Hi' }))
    await drain(plain.app)
    const conversation = plain.intercom.conversations[0]!
    await deliver(
      plain,
      plain.intercom.notification('conversation.admin.replied', conversation.id, [
        plain.intercom.addAdminReply(conversation.id, { body: '<p>Hello</p>' }),
      ]),
    )
    t.match(plain.twilio.messages.filter((m) => m.direction === 'outbound-api')[0], { to: CUSTOMER, from: OUR_NUMBER })
  },
)

t.test('a channel the bridge cannot serve is refused at the webhook, and nothing is stored', async (t) => {
  const ctx = await buildTestApp(t)
  const res = await postSms(ctx, inboundForm(ctx, { From: 'messenger:1234567890', To: 'messenger:987654321', Body: 'hi' }))
  t.equal(res.statusCode, 422)
  t.match(res.json(), { error: { code: 'unsupported_channel', message: /"messenger" channel.*SMS, MMS, RCS and WhatsApp/ } })
  t.equal((await ctx.app.store.db.selectFrom('messages').selectAll().execute()).length, 0)
  t.equal(ctx.intercom.contacts.length, 0)
})

t.test('the Messenger card loads from the initialize Intercom really sends (a teammate and a context, no visitor)', async (t) => {
  const ctx = await buildTestApp(t)
  const res = await postCanvas(ctx, '/canvas/messenger/initialize', {
    workspace_id: 'abc123xy',
    workspace_region: 'us',
    card_creation_options: {},
    context: {
      location: 'home',
      locale: 'en',
      messenger_action_colour: '#1f8ded',
      messenger_background_colour: '#ffffff',
      referrer: 'https://example.com/pricing',
    },
    admin: { type: 'admin', id: ctx.intercom.admin.id, name: ctx.intercom.admin.name, email: ctx.intercom.admin.email },
  })
  t.equal(res.statusCode, 200)
  const components = res.json().canvas.content.components as Array<{ id: string }>
  t.same(
    components.map((c) => c.id),
    ['title', 'intro', 'phone', 'consent', 'subscribe'],
  )
})

t.test('a reply that Twilio never took, after every attempt, is noted in the conversation with how to resend it', async (t) => {
  const ctx = await buildTestApp(t, { build: { worker: { backoff: { baseMs: 1, maxMs: 5 } } } })
  const id = await smsConversation(ctx)
  const reply = ctx.intercom.addAdminReply(id, { body: '<p>Your refund is on its way</p>' })
  ctx.twilio.failNext({ status: 503, untilMs: Date.now() + 3_600_000, match: { method: 'POST', path: /Messages\.json$/ } })
  const res = await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', id, [reply]))
  t.equal(res.statusCode, 200)
  await drain(ctx.app)
  const job = await ctx.app.store.db.selectFrom('jobs').selectAll().where('task', '=', 'outbound.reply').executeTakeFirstOrThrow()
  t.equal(job.state, 'dead', `dead after ${job.attempts} attempts`)
  t.equal(textsTo(ctx).length, 0)
  t.match(
    notes(ctx, id).at(-1),
    new RegExp(`This reply was not texted to the customer.*Your refund is on its way.*sms-bridge jobs retry ${job.id}`, 's'),
  )
})
