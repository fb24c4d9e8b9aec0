import t from 'tap'
import { inboxPanel } from '../../../canvas/inbox-views.js'
import type { Message } from '../../../shared/db/schema.js'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, type TestApp } from '../../helper.js'

const CUSTOMER = '+14155550123'

async function smsConversation(ctx: TestApp): Promise<string> {
  const res = await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Hi, I need help' }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  const contact = ctx.intercom.contacts.find((x) => x.phone === CUSTOMER)!
  return ctx.intercom.conversations.find((c) => c.contacts[0]!.id === contact.id)!.id
}

async function reply(ctx: TestApp, conversationId: string, body: string) {
  const part = ctx.intercom.addAdminReply(conversationId, { body })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
  await drain(ctx.app)
}

const notes = (ctx: TestApp, id: string) =>
  ctx.intercom
    .conversation(id)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body)
const segmentsSent = async (ctx: TestApp) =>
  (await ctx.app.bridge.metrics.segmentsSent.get()).values.find((v) => v.labels.direction === 'outbound')?.value ?? 0

t.test('a long reply with an emoji: the conversation is told how many texts and segments, and the counter counts them', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  const sentence = 'Your order has shipped and will arrive soon. '
  const long = `Thanks 😀 ${sentence.repeat(Math.ceil(1_700 / sentence.length))}`.trim()
  t.ok(long.length >= 1_700)
  await reply(ctx, conversationId, long)
  const texts = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
  t.equal(texts.length, 2, '1,700 characters became two texts')
  const segments = texts.reduce((n, m) => n + Number(m.num_segments), 0)
  t.ok(segments > 20, `UCS-2: ${segments} segments`)
  t.same(notes(ctx, conversationId), [
    `<p>Sent as 2 texts, ${segments} segments (UCS-2 because of "😀": 70 characters a segment instead of 160).</p>`,
  ])
  t.equal(await segmentsSent(ctx), segments, "Twilio's NumSegments, counted once each")
  const rows = await ctx.app.store.db
    .selectFrom('messages')
    .select('num_segments')
    .where('direction', '=', 'outbound')
    .orderBy('part_index')
    .execute()
  t.same(
    rows.map((r) => r.num_segments),
    texts.map((m) => Number(m.num_segments)),
    'each text keeps its segments',
  )

  await reply(ctx, conversationId, 'Short and plain.')
  t.equal(notes(ctx, conversationId).length, 1, 'a one-segment GSM-7 reply gets no note')
  t.equal(await segmentsSent(ctx), segments + 1)
  await reply(ctx, conversationId, 'Thanks 😀')
  t.equal(notes(ctx, conversationId).length, 1, 'nor does a one-segment emoji reply')
})

t.test('the sidebar list says how many segments a text took', async (t) => {
  const text = (id: number, segments: number | null): Message => ({
    id,
    direction: 'outbound',
    twilio_sid: null,
    intercom_conversation_id: null,
    intercom_contact_id: 'c',
    intercom_part_id: null,
    part_index: 0,
    phone: CUSTOMER,
    twilio_number: null,
    body: 'hello',
    media: [],
    num_segments: segments,
    status: 'delivered',
    error_code: null,
    error_message: null,
    send_attempted_at: null,
    redacted_at: id === 3 ? 1 : null,
    channel: null,
    fallback_sid: null,
    created_at: 0,
    updated_at: 0,
  })
  const panel = inboxPanel({
    phone: CUSTOMER,
    consent: { state: 'ok', since: null },
    messages: [text(1, 5), text(2, 1), text(3, 1)],
    welcome: null,
    welcomeEnabled: false,
    mergeInto: null,
    revocation: null,
    scheduled: [],
  })
  const items = JSON.stringify(panel)
  t.match(items, /"subtitle":"Delivered · 5 segments · 1970-01-01 00:00 UTC"/)
  t.match(items, /"subtitle":"Delivered · 1970-01-01 00:00 UTC"/, 'one segment goes unsaid')
  t.match(items, /"title":"→ \(words removed\)"/, 'a text past retention says so')
})
