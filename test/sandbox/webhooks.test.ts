import { readFileSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import twilio from 'twilio'
import { startIntercomStandIn } from '../../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../../sandbox/twilio/index.js'
import { until } from '../support/wait.js'

// The webhooks the stand-ins post for the demo must be the ones the real services post: checked here
// with the official twilio.validateRequest and with Intercom's documented HMACs, not with our own code.

interface Received {
  path: string
  headers: IncomingHttpHeaders
  raw: string
}

/** A loopback receiver that records every request and answers 200. */
async function receiver(t: Test) {
  const received: Received[] = []
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, raw })
      res.writeHead(200, { 'content-type': 'text/xml' })
      res.end('<Response></Response>')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received }
}

const form = (raw: string) => Object.fromEntries(new URLSearchParams(raw))

/** A lead with an open conversation "42" in the stand-in, as a customer's first text would leave it. */
function withConversation42(fake: Awaited<ReturnType<typeof startIntercomStandIn>>) {
  const contact = fake.addContact({ role: 'lead', phone: '+14155550123' })
  fake.conversations.push({
    type: 'conversation',
    id: '42',
    created_at: 1,
    updated_at: 1,
    state: 'open',
    open: true,
    tags: [],
    parts: [],
    contacts: [{ type: 'contact', id: contact.id, external_id: null }],
    source: {
      type: 'conversation',
      id: '41',
      delivered_as: 'customer_initiated',
      subject: '',
      body: 'hi',
      author: { type: 'lead', id: contact.id, name: null, email: null },
      attachments: [],
      url: null,
      redacted: false,
    },
  })
  return contact
}

t.test('Twilio: inbound texts and status callbacks, signed as Twilio signs them', async (t) => {
  const hook = await receiver(t)
  const fake = await startTwilioStandIn({ statusCallbacks: { stepMs: 10 }, optOutKeywords: true })
  t.teardown(() => fake.close())
  const client = twilio(fake.accountSid, fake.authToken, { autoRetry: false })
  client.api.baseUrl = fake.url
  const valid = (r: Received) =>
    twilio.validateRequest(fake.authToken, String(r.headers['x-twilio-signature']), `${hook.url}${r.path}`, form(r.raw))

  // No SMS URL yet: the text is logged, nothing is posted.
  const unrouted = await fake.receiveText({ from: '+14155550123', to: '+14155550100', body: 'anyone?' })
  t.equal(unrouted.delivery, null)
  fake.addPhoneNumber('+14155550100')
  await client.incomingPhoneNumbers(fake.phoneNumbers[0]!.sid).update({ smsUrl: `${hook.url}/twilio/sms?x=1`, smsMethod: 'POST' })

  const png = Buffer.from('a picture')
  const { message, delivery } = await fake.receiveText({
    from: '+14155550123',
    to: '+14155550100',
    body: 'Hi 👋',
    media: [{ contentType: 'image/png', data: png }],
  })
  t.equal(delivery?.status, 200)
  const inbound = hook.received.at(-1)!
  t.equal(inbound.path, '/twilio/sms?x=1')
  t.ok(valid(inbound), 'twilio.validateRequest accepts the signature')
  t.match(form(inbound.raw), {
    MessageSid: message.sid,
    AccountSid: fake.accountSid,
    From: '+14155550123',
    To: '+14155550100',
    Body: 'Hi 👋',
    NumMedia: '1',
    MediaContentType0: 'image/png',
    FromCountry: 'US',
  })
  const media = await fetch(form(inbound.raw).MediaUrl0!, {
    headers: { authorization: `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}` },
  })
  t.same(Buffer.from(await media.arrayBuffer()), png, 'MediaUrl0 serves the picture, with the credentials')

  // A text sent with a StatusCallback: queued, sent, delivered, in order, each signed.
  const callback = `${hook.url}/twilio/status`
  const sent = await client.messages.create({ to: '+14155550123', from: '+14155550100', body: 'On its way', statusCallback: callback })
  const statuses = (sid: string) => hook.received.filter((r) => r.path === '/twilio/status' && form(r.raw).MessageSid === sid)
  await until(() => statuses(sent.sid).length === 3, 'three callbacks')
  t.same(
    statuses(sent.sid).map((r) => form(r.raw).MessageStatus),
    ['queued', 'sent', 'delivered'],
  )
  t.ok(statuses(sent.sid).every(valid), 'every callback is signed')
  t.equal((await client.messages(sent.sid).fetch()).status, 'delivered', 'the API agrees')

  // A phone that is off: sent, then undelivered with the error code.
  fake.failDelivery('+14155550199', { code: 30003 })
  const lost = await client.messages.create({ to: '+14155550199', from: '+14155550100', body: 'Hello?', statusCallback: callback })
  await until(() => statuses(lost.sid).length === 3, 'three callbacks')
  t.same(
    statuses(lost.sid).map((r) => [form(r.raw).MessageStatus, form(r.raw).ErrorCode]),
    [
      ['queued', undefined],
      ['sent', undefined],
      ['undelivered', '30003'],
    ],
  )
  t.equal((await client.messages(lost.sid).fetch()).errorCode, 30003)

  // STOP: Twilio answers it, forwards it with OptOutType, and refuses texts until START.
  await fake.receiveText({ from: '+14155550123', to: '+14155550100', body: 'stop' })
  t.equal(form(hook.received.at(-1)!.raw).OptOutType, 'STOP')
  t.match(fake.messages.at(-1), { direction: 'outbound-api', to: '+14155550123', body: /successfully been unsubscribed/ })
  await client.messages.create({ to: '+14155550123', from: '+14155550100', body: 'still there?' }).then(
    () => t.fail('sent to an opted-out number'),
    (err) => t.match(err, { status: 400, code: 21610 }),
  )
  await fake.receiveText({ from: '+14155550123', to: '+14155550100', body: 'START' })
  t.equal(form(hook.received.at(-1)!.raw).OptOutType, 'START')
  t.ok(await client.messages.create({ to: '+14155550123', from: '+14155550100', body: 'welcome back' }), 'texts go out again after START')
})

t.test('Intercom: webhooks and Canvas Kit requests, signed as Intercom signs them', async (t) => {
  const hook = await receiver(t)
  const fake = await startIntercomStandIn()
  t.teardown(() => fake.close())
  const contact = withConversation42(fake)

  t.equal((await fake.replyAsAdmin('42', { body: '<p>unheard</p>' })).delivery, null, 'no subscription, no webhook')
  fake.subscribeWebhooks({ url: `${hook.url}/intercom/webhooks`, topics: ['conversation.admin.replied', 'conversation.admin.closed'] })
  const { part, delivery } = await fake.replyAsAdmin('42', { body: '<p>Yes, today.</p>' })
  t.equal(delivery?.status, 200)
  const replied = hook.received.at(-1)!
  t.equal(
    replied.headers['x-hub-signature'],
    `sha1=${createHmac('sha1', fake.clientSecret).update(replied.raw).digest('hex')}`,
    'X-Hub-Signature: HMAC-SHA1 of the raw body',
  )
  const payload = JSON.parse(replied.raw)
  t.match(payload, { type: 'notification_event', topic: 'conversation.admin.replied', data: { item: { id: '42' } } })
  t.same(
    payload.data.item.conversation_parts.conversation_parts.map((p: { id: string; body: string }) => [p.id, p.body]),
    [[part.id, '<p>Yes, today.</p>']],
  )

  await fake.closeAsAdmin('42')
  t.match(JSON.parse(hook.received.at(-1)!.raw), { topic: 'conversation.admin.closed', data: { item: { id: '42', state: 'closed' } } })

  const { canvas } = await fake.postCanvas(`${hook.url}/canvas/inbox/submit`, {
    conversationId: '42',
    componentId: 'send_sms',
    inputValues: { sms_body: 'hello' },
  })
  t.equal(canvas, null, 'the answer was not JSON')
  const request = hook.received.at(-1)!
  t.equal(
    request.headers['x-body-signature'],
    createHmac('sha256', fake.clientSecret).update(request.raw).digest('hex'),
    'X-Body-Signature: HMAC-SHA256 of the raw body',
  )
  t.match(JSON.parse(request.raw), {
    admin: { id: fake.admin.id },
    conversation: { id: '42' },
    contact: { id: contact.id },
    component_id: 'send_sms',
    input_values: { sms_body: 'hello' },
  })
})

t.test("the Intercom stand-in's notifications carry every field a real capture carries", async (t) => {
  const real = JSON.parse(
    readFileSync(new URL('../fixtures/real/intercom/webhooks/operator-replied-bot-zulip.json', import.meta.url), 'utf8'),
  ).payload
  const fake = await startIntercomStandIn()
  t.teardown(() => fake.close())
  withConversation42(fake)
  const ours = fake.notification('conversation.admin.replied', '42', [fake.addAdminReply('42', { body: '<p>hi</p>' })]) as any
  const missing = (a: object, b: object) => Object.keys(a).filter((k) => !(k in b))
  t.same(missing(real, ours), [], 'envelope')
  t.same(missing(real.data.item, ours.data.item), [], 'conversation')
  t.same(
    missing(real.data.item.conversation_parts.conversation_parts[0], ours.data.item.conversation_parts.conversation_parts[0]),
    [],
    'part',
  )
  const ping = JSON.parse(readFileSync(new URL('../fixtures/real/intercom/webhooks/ping-zulip.json', import.meta.url), 'utf8')).payload
  t.same(missing(ping, fake.pingNotification()), [], 'the ping')
  t.equal(fake.pingNotification().id, null)
})

t.test("the Twilio stand-in's inbound webhooks carry every parameter a real capture carries", async (t) => {
  const real = (name: string) =>
    JSON.parse(readFileSync(new URL(`../fixtures/real/twilio/${name}`, import.meta.url), 'utf8')).params as Record<string, string>
  const hook = await receiver(t)
  const fake = await startTwilioStandIn()
  t.teardown(() => fake.close())
  fake.addPhoneNumber('+14155550100')
  fake.phoneNumbers[0]!.sms_url = `${hook.url}/twilio/sms`
  const missing = (captured: Record<string, string>, ours: Record<string, string>) => Object.keys(captured).filter((k) => !(k in ours))

  await fake.receiveText({ from: '+14155550123', to: '+14155550100', body: 'Hi' })
  t.same(missing(real('inbound-sms-plain-geo-smswebhook.json'), form(hook.received.at(-1)!.raw)), [], 'a plain SMS')

  await fake.receiveText({
    from: '+14155550123',
    to: '+14155550100',
    body: 'look',
    media: [{ contentType: 'image/jpeg', data: Buffer.from('x') }],
  })
  const mms = real('inbound-mms-image-apple-upahead.json')
  delete mms.MessagingServiceSid // the capture came through a Messaging Service; this number has none
  t.same(missing(mms, form(hook.received.at(-1)!.raw)), [], 'an MMS')

  await fake.receiveText({ from: 'whatsapp:+14155550123', to: '+14155550100', body: 'Hola' })
  const whatsapp = real('inbound-whatsapp-button-profile-apotek.json')
  // Only in a reply to an interactive message (buttons), and forwarding flags: not ordinary text.
  for (const k of [
    'OriginalRepliedMessageSender',
    'OriginalRepliedMessageSid',
    'ButtonText',
    'ButtonPayload',
    'ExternalUserId',
    'Forwarded',
    'FrequentlyForwarded',
  ])
    delete whatsapp[k]
  t.same(missing(whatsapp, form(hook.received.at(-1)!.raw)), [], 'a WhatsApp message')
})
