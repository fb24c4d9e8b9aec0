import t from 'tap'
import type { MessageStatus } from '../../../shared/db/schema.js'
import { nextStatus } from '../../../server/bridge/status.js'
import {
  buildTestApp,
  drain,
  inboundForm,
  OUR_NUMBER,
  postIntercomWebhook,
  postSms,
  postStatus,
  PUBLIC_URL,
  type TestApp,
} from '../../helper.js'
import { signIntercomWebhook } from '../../../sandbox/intercom/index.js'

const CUSTOMER = '+14155550123'

/** A customer has texted in, so the contact has an SMS conversation. Returns its id. */
async function smsConversation(ctx: TestApp, from = CUSTOMER, to = OUR_NUMBER): Promise<string> {
  const res = await postSms(ctx, inboundForm(ctx, { From: from, To: to, Body: 'Hi, I need help' }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  return ctx.intercom.conversations.find((c) => c.contacts[0]!.id === ctx.intercom.contacts.find((x) => x.phone === from)!.id)!.id
}

/** A teammate replies in the inbox and Intercom sends the webhook. */
async function teammateReplies(
  ctx: TestApp,
  conversationId: string,
  body: string,
  extra: Parameters<TestApp['intercom']['addAdminReply']>[1] = { body },
) {
  const part = ctx.intercom.addAdminReply(conversationId, { ...extra, body })
  const res = await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  return part
}

const textsTo = (ctx: TestApp, phone = CUSTOMER) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === phone)
const notes = (ctx: TestApp, conversationId: string) =>
  ctx.intercom.conversation(conversationId)!.parts.filter((p) => p.part_type === 'note')

t.test('the webhook checks X-Hub-Signature (sha1) and stores nothing otherwise', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  const conversationId = await (async () => {
    ctx.app.worker.start()
    return smsConversation(ctx)
  })()
  const part = ctx.intercom.addAdminReply(conversationId, { body: '<p>Hello</p>' })
  const payload = ctx.intercom.notification('conversation.admin.replied', conversationId, [part])
  const raw = JSON.stringify(payload)
  const sha256 = (await import('node:crypto')).createHmac('sha256', ctx.intercom.clientSecret).update(raw).digest('hex')
  for (const [name, signature] of [
    ['missing', null],
    ['sha256 (the guide was wrong)', `sha256=${sha256}`],
    ['another secret', signIntercomWebhook('other-secret', raw)],
    ['without prefix', signIntercomWebhook(ctx.intercom.clientSecret, raw).slice(5)],
  ] as const) {
    const res = await postIntercomWebhook(ctx, payload, { signature })
    t.equal(res.statusCode, 401, name)
  }
  const receipts = await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().where('source', '=', 'intercom').execute()
  t.equal(receipts.length, 0)
  t.equal(textsTo(ctx).length, 0)

  const ping = await postIntercomWebhook(ctx, {
    type: 'notification_event',
    id: 'notif_ping',
    topic: 'ping',
    data: { item: { type: 'ping', message: 'hi' } },
  })
  t.equal(ping.statusCode, 200, "Intercom's test ping is answered")
  const unknown = await postIntercomWebhook(ctx, {
    type: 'notification_event',
    id: 'notif_x',
    topic: 'company.created',
    data: { item: { id: 'c1' } },
  })
  t.equal(unknown.statusCode, 200, 'a topic the bridge does not handle: 2xx, so it never counts towards Intercom pausing the subscription')
  t.match(unknown.json(), { ignored: /company\.created.*untick/ })
  const kept = await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().execute()
  t.equal(kept.length, 0, 'neither is stored')
  const broken = await ctx.app.inject({
    method: 'POST',
    url: '/intercom/webhooks',
    headers: { 'content-type': 'application/json', 'x-hub-signature': signIntercomWebhook(ctx.intercom.clientSecret, '{nope') },
    payload: '{nope',
  })
  t.equal(broken.statusCode, 400)
})

t.test('a teammate reply reaches the customer once, from the number they texted, as plain text', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  const part = await teammateReplies(
    ctx,
    conversationId,
    '<p>Hi Ana &amp; co,</p><p>Track it <a href="https://x.io/t/1">here</a>.<br>Thanks 👋</p>',
  )
  const texts = textsTo(ctx)
  t.equal(texts.length, 1)
  t.equal(texts[0]!.from, OUR_NUMBER)
  t.equal(texts[0]!.body, 'Hi Ana & co,\n\nTrack it here (https://x.io/t/1).\nThanks 👋')
  t.equal(texts[0]!.status_callback, `${PUBLIC_URL}/twilio/status`)
  const row = await ctx.app.store.db.selectFrom('messages').selectAll().where('direction', '=', 'outbound').executeTakeFirstOrThrow()
  t.match(row, { twilio_sid: texts[0]!.sid, intercom_part_id: part.id, phone: CUSTOMER, status: 'queued', num_segments: 1 })

  // The same notification again, and the same part inside another notification.
  const again = ctx.intercom.notification('conversation.admin.replied', conversationId, [part])
  await postIntercomWebhook(ctx, again)
  await postIntercomWebhook(ctx, again)
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
  await drain(ctx.app)
  t.equal(textsTo(ctx).length, 1, 'one text, whatever Intercom redelivers')
})

t.test('notes, customer parts and conversations without SMS are never texted; bots follow the setting', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  await teammateReplies(ctx, conversationId, '<p>internal note</p>', { body: '', partType: 'note' })
  const posted = ctx.intercom.conversation(conversationId)!.parts.filter((p) => p.author.type === 'lead')
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, posted))
  await drain(ctx.app)
  t.equal(textsTo(ctx).length, 0, 'no note or customer part became a text')

  const other = ctx.intercom.addContact({ role: 'user', email: 'web@example.com', phone: '+14155550999' })
  const web = ctx.intercom.conversations.length
  const res = await (async () => {
    const { default: c } = await import('intercom-client').then((m) => ({
      default: new m.IntercomClient({ token: ctx.intercom.token, baseUrl: ctx.intercom.url, maxRetries: 0 }),
    }))
    return c.conversations.create({ from: { type: 'user', id: other.id }, body: 'from the Messenger' })
  })()
  t.equal(ctx.intercom.conversations.length, web + 1)
  await teammateReplies(ctx, res.conversation_id, '<p>answer on the web</p>')
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 0, 'a conversation with no SMS link is ignored')

  await teammateReplies(ctx, conversationId, '<p>I am Fin</p>', { body: '', authorType: 'bot' })
  t.same(
    textsTo(ctx).map((m) => m.body),
    ['I am Fin'],
    'bot replies are relayed by default',
  )

  const off = await buildTestApp(t, { env: { RELAY_BOT_REPLIES: 'false' } })
  const offConversation = await smsConversation(off)
  await teammateReplies(off, offConversation, '<p>I am Fin</p>', { body: '', authorType: 'bot' })
  t.equal(textsTo(off).length, 0, 'and not when RELAY_BOT_REPLIES=false')
})

t.test('several numbers: the reply goes out from the one the customer texted; or via the Messaging Service', async (t) => {
  const UK = '+442071838750'
  const ctx = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${UK}` } })
  const conversationId = await smsConversation(ctx, '+447700900123', UK)
  await teammateReplies(ctx, conversationId, 'Hello from London')
  t.same(
    textsTo(ctx, '+447700900123').map((m) => m.from),
    [UK],
  )

  const service = `MG${'a'.repeat(32)}`
  const viaService = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: service } })
  const id = await smsConversation(viaService)
  await teammateReplies(viaService, id, 'via the service')
  const [text] = textsTo(viaService)
  t.equal(text?.messaging_service_sid, service)
  // The customer texted OUR_NUMBER (configured): it goes as From beside the service (sticky sender).
  t.equal(text?.from, OUR_NUMBER)
  t.equal(
    (viaService.twilio.requests.find((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'))?.body as Record<string, string>).From,
    OUR_NUMBER,
  )
})

t.test('attachments go as MMS from US numbers, as links elsewhere; Intercom uploads are served by the bridge', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},+442071838750` } })
  const us = await smsConversation(ctx)
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')
  const pdf = Buffer.from('%PDF-1.4 label')
  const files = [
    {
      url: ctx.intercom.upload({ name: 'receipt.png', contentType: 'image/png', data: png }),
      content_type: 'image/png',
      name: 'receipt.png',
    },
    {
      url: ctx.intercom.upload({ name: 'label.pdf', contentType: 'application/pdf', data: pdf }),
      content_type: 'application/pdf',
      name: 'label.pdf',
    },
  ]
  await teammateReplies(ctx, us, '<p>Here you go</p>', { body: '', attachments: files })
  const [mms] = textsTo(ctx)
  t.equal(mms?.body, 'Here you go')
  t.equal(mms?.num_media, '2', 'sent as MMS')
  const request = ctx.twilio.requests.find((r) => r.method === 'POST' && (r.body as Record<string, unknown>)?.To === CUSTOMER)
  const mediaUrls = (request?.body as Record<string, unknown>).MediaUrl as string[]
  t.equal(mediaUrls.length, 2)
  t.ok(
    mediaUrls.every((u) => u.startsWith(`${PUBLIC_URL}/media/`)),
    "Twilio is given the bridge's own links, not Intercom's expiring ones",
  )

  // Intercom's links expire about 30 minutes after the reply: Twilio fetching later still gets the files.
  ctx.intercom.expireUploads()
  const served = await Promise.all(mediaUrls.map((u) => ctx.app.inject({ method: 'GET', url: u.slice(PUBLIC_URL.length) })))
  t.same(
    served.map((r) => r.statusCode),
    [200, 200],
  )
  t.same(served[0]!.rawPayload, png)
  t.equal(served[0]!.headers['content-type'], 'image/png')
  t.equal(served[0]!.headers['x-content-type-options'], 'nosniff')
  t.equal(served[1]!.headers['content-type'], 'application/pdf')
  t.match(
    served[1]!.headers['content-disposition'],
    /^attachment; filename="label\.pdf"/,
    'files that are not pictures are downloads, never pages on our domain',
  )
  t.same(served[1]!.rawPayload, pdf)

  const uk = await smsConversation(ctx, '+447700900123', '+442071838750')
  const elsewhere = [{ url: 'https://files.example.com/receipt.png', content_type: 'image/png', name: 'receipt.png' }]
  await teammateReplies(ctx, uk, '<p>Here you go</p>', { body: '', attachments: elsewhere })
  const [sms] = textsTo(ctx, '+447700900123')
  t.equal(sms?.num_media, '0')
  t.equal(sms?.body, `Here you go\n${elsewhere[0]!.url}`, 'links instead; a link that is not an Intercom upload goes as it is')
})

t.test('a reply over 1600 characters goes out as ordered texts split at sentences', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  const long = Array.from({ length: 80 }, (_, i) => `Step ${i + 1} of the return process is explained here.`).join(' ')
  await teammateReplies(ctx, conversationId, `<p>${long}</p>`)
  const texts = textsTo(ctx)
  t.ok(texts.length >= 3)
  t.equal(texts.map((m) => m.body).join(' '), long, 'in order, nothing lost')
  for (const m of texts) t.ok(m.body.length <= 1600 && m.body.endsWith('.'))
})

t.test('a timeout after Twilio accepted the text does not text the customer twice', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  ctx.twilio.failNext({ status: 500, afterAccept: true, match: { method: 'POST', path: /Messages\.json$/ } })
  await teammateReplies(ctx, conversationId, 'Only once, please')
  const texts = textsTo(ctx)
  t.equal(texts.length, 1, 'one text')
  const row = await ctx.app.store.db.selectFrom('messages').selectAll().where('direction', '=', 'outbound').executeTakeFirstOrThrow()
  t.equal(row.twilio_sid, texts[0]!.sid, 'the retry found and adopted it')

  ctx.twilio.failNext({ status: 503, match: { method: 'POST', path: /Messages\.json$/ } })
  await teammateReplies(ctx, conversationId, 'Twilio was down')
  ctx.twilio.failNext({ status: 429, match: { method: 'POST', path: /Messages\.json$/ } })
  await teammateReplies(ctx, conversationId, 'Twilio said slow down')
  t.same(
    textsTo(ctx).map((m) => m.body),
    ['Only once, please', 'Twilio was down', 'Twilio said slow down'],
    'refused creates are sent on retry, once each',
  )
})

t.test('permanent errors are not retried; one plain note says what happened', async (t) => {
  const ctx = await buildTestApp(t)
  const cases: Array<[number, string, RegExp]> = [
    [21614, '+14155550201', /not a mobile number/],
    [21211, '+14155550202', /not valid/],
    [21408, '+14155550203', /country is not enabled/],
    [30034, '+14155550204', /A2P 10DLC/],
    [30915, '+14155550205', /filed as a Sole Proprietor/],
  ]
  for (const [code, phone, sentence] of cases) {
    const conversationId = await smsConversation(ctx, phone)
    ctx.twilio.rejectRecipient(phone, code)
    await teammateReplies(ctx, conversationId, 'Hello?')
    const creates = ctx.twilio.requests.filter((r) => r.method === 'POST' && (r.body as Record<string, unknown>)?.To === phone)
    t.equal(creates.length, 1, `${code}: tried once`)
    const n = notes(ctx, conversationId)
    t.equal(n.length, 1, `${code}: one note`)
    t.match(n[0]?.body, sentence)
    t.match(n[0]?.body, String(code))
    const row = await ctx.app.store.db
      .selectFrom('messages')
      .selectAll()
      .where('phone', '=', phone)
      .where('direction', '=', 'outbound')
      .executeTakeFirstOrThrow()
    t.match(row, { status: 'failed', error_code: code })
  }
  t.equal((await ctx.app.store.db.selectFrom('jobs').selectAll().where('state', '=', 'dead').execute()).length, 0)
})

t.test('opted out (STOP, or Twilio 21610): nothing is sent, and the note says so', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'STOP' }))
  await drain(ctx.app)
  await teammateReplies(ctx, conversationId, 'Are you still there?')
  t.equal(textsTo(ctx).length, 0, 'not texted')
  t.match(notes(ctx, conversationId).at(-1)?.body, /Not sent as SMS.*opted out/)

  const other = '+14155550300'
  const second = await smsConversation(ctx, other)
  ctx.twilio.rejectRecipient(other, 21610)
  await teammateReplies(ctx, second, 'hello')
  t.match(notes(ctx, second).at(-1)?.body, /opted out/)
  const consent = await ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', other).executeTakeFirstOrThrow()
  t.match(consent, { state: 'opted_out', source: 'twilio:21610' }, "Twilio's word is recorded too")
  await teammateReplies(ctx, second, 'and again')
  t.equal(
    ctx.twilio.requests.filter((r) => r.method === 'POST' && (r.body as Record<string, unknown>)?.To === other).length,
    1,
    'not tried again',
  )
})

t.test('status ordering', async (t) => {
  const cases: Array<[MessageStatus, string, string | null]> = [
    ['queued', 'sent', 'sent'],
    ['queued', 'delivered', 'delivered'],
    ['sent', 'queued', null],
    ['delivered', 'sent', null],
    ['delivered', 'failed', null],
    ['failed', 'delivered', null],
    ['undelivered', 'sent', null],
    ['delivered', 'read', 'read'],
    ['sent', 'sent', null],
    ['accepted', 'sending', 'sending'],
    ['sent', 'mystery', null],
  ]
  for (const [from, to, expected] of cases) t.equal(nextStatus(from, to), expected, `${from} + ${to}`)
})

t.test('shuffled, duplicated status callbacks end in the right status; failures get one note', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  await teammateReplies(ctx, conversationId, 'one')
  await teammateReplies(ctx, conversationId, 'two')
  const [one, two] = textsTo(ctx)
  const callbacks: Array<Record<string, string>> = [
    { MessageSid: one!.sid, MessageStatus: 'delivered' },
    { MessageSid: one!.sid, MessageStatus: 'sent' },
    { MessageSid: two!.sid, MessageStatus: 'undelivered', ErrorCode: '30003' },
    { MessageSid: one!.sid, MessageStatus: 'delivered' },
    { MessageSid: two!.sid, MessageStatus: 'sent' },
    { MessageSid: one!.sid, MessageStatus: 'queued' },
    { MessageSid: two!.sid, MessageStatus: 'undelivered', ErrorCode: '30003' },
  ]
  for (const cb of callbacks) {
    const res = await postStatus(ctx, cb)
    t.equal(res.statusCode, 204)
  }
  await drain(ctx.app)
  const rows = await ctx.app.store.db.selectFrom('messages').selectAll().where('direction', '=', 'outbound').orderBy('id').execute()
  t.same(
    rows.map((r) => [r.body, r.status, r.error_code]),
    [
      ['one', 'delivered', null],
      ['two', 'undelivered', 30003],
    ],
  )
  const failureNotes = notes(ctx, conversationId)
  t.equal(failureNotes.length, 1, 'one note for the failure')
  t.match(failureNotes[0]?.body, /unreachable/)
  t.match(failureNotes[0]?.body, two!.sid, 'with the MessageSid to look up')
  const contact = ctx.intercom.contacts.find((c) => c.phone === CUSTOMER)!
  t.match(contact.custom_attributes, { last_sms_sid: two!.sid, last_sms_status: 'undelivered' })

  const forged = await postSms(
    ctx,
    { MessageSid: one!.sid, MessageStatus: 'failed', AccountSid: ctx.twilio.accountSid },
    { path: '/twilio/status', signature: 'bad' },
  )
  t.equal(forged.statusCode, 403, 'status callbacks are signed too')
  const unknown = await postStatus(ctx, { MessageSid: `SM${'0'.repeat(32)}`, MessageStatus: 'delivered' })
  t.equal(unknown.statusCode, 204, 'an unknown sid is ignored')
})

t.test('conversation.admin.closed starts the reopen window', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  ctx.intercom.closeConversation(conversationId)
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.closed', conversationId, []))
  const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.ok(link.closed_at && Math.abs(link.closed_at - Date.now()) < 5_000)
})

t.test(
  'the look before a resend is classified like every call: Twilio refusing the list (401) is not retried, the team is told',
  async (t) => {
    const ctx = await buildTestApp(t)
    const conversationId = await smsConversation(ctx)
    const messages = /\/Messages\.json$/
    // The first send gets no confirmation, so the retry must look in Twilio's log first; the look is refused.
    ctx.twilio.failNext({
      status: 500,
      body: { code: 20500, message: 'Internal error', status: 500 },
      match: { method: 'POST', path: messages },
    })
    ctx.twilio.failNext({
      status: 401,
      body: { code: 20003, message: 'Authenticate', status: 401 },
      match: { method: 'GET', path: messages },
      times: 50,
    })
    await teammateReplies(ctx, conversationId, 'Your parcel is on its way')
    const [dead] = await ctx.app.store.db.selectFrom('jobs').selectAll().where('state', '=', 'dead').execute()
    t.equal(dead?.task, 'outbound.reply')
    t.equal(dead?.attempts, 2, 'given up at the refusal, not after 20 attempts')
    t.match(dead?.last_error, /Twilio refused to look for an earlier attempt in the message log \(401, error 20003\)/)
    t.equal(
      ctx.twilio.requests.filter((r) => r.method === 'GET' && messages.test(r.path) && r.query.To === CUSTOMER).length,
      1,
      'one look at the texts to the customer',
    )
    t.equal(textsTo(ctx).length, 0, 'never sent blind: the first attempt may have reached Twilio')
    t.match(notes(ctx, conversationId).at(-1)?.body, /This reply was not texted to the customer.*401/)
  },
)
