// Every kind of part a teammate or bot writes, through the real app: what the customer's phone gets
// (PART_TYPES), and quick replies asked by text and answered as the button they name.
import t from 'tap'
import { chosenOption, numberedOptions, PART_TYPES } from '../../../server/bridge/parts.js'
import type { AdminReply } from '../../../sandbox/intercom/state.js'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, type TestApp } from '../../helper.js'

const CUSTOMER = '+14155550123'
const YES_NO = [
  { text: 'Yes', uuid: 'a5e1c524-5ddd-4c3e-9328-6bca5d6e3edb' },
  { text: 'No', uuid: 'f4a98af1-be56-4948-a57e-e1a83f8484c6' },
]

async function text(ctx: TestApp, body: string): Promise<void> {
  const res = await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: body }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
}

/** The customer's SMS conversation, opened by a first text. */
async function smsConversation(ctx: TestApp): Promise<string> {
  await text(ctx, 'Hi, I need help')
  return ctx.intercom.conversations[0]!.id
}

/** A teammate (or bot) writes a part and Intercom sends the webhook; `rename` gives it a type the stand-in does not model. */
async function writes(ctx: TestApp, conversationId: string, reply: AdminReply, opts: { topic?: string; rename?: string } = {}) {
  const part = ctx.intercom.addAdminReply(conversationId, reply)
  const payload = ctx.intercom.notification(opts.topic ?? 'conversation.admin.replied', conversationId, [part]) as {
    data: { item: { conversation_parts: { conversation_parts: Array<{ part_type: string }> } } }
  }
  if (opts.rename) payload.data.item.conversation_parts.conversation_parts[0]!.part_type = opts.rename
  const res = await postIntercomWebhook(ctx, payload)
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  return part
}

const textsToCustomer = (ctx: TestApp) =>
  ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === CUSTOMER).map((m) => m.body)
const notes = (ctx: TestApp, conversationId: string) =>
  ctx.intercom
    .conversation(conversationId)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body ?? '')

t.test('numbered options and the option a text chooses', async (t) => {
  t.equal(numberedOptions(YES_NO), 'Reply 1 for Yes, 2 for No.')
  const cases: Array<[string, string | null]> = [
    ['1', 'Yes'],
    [' 2 ', 'No'],
    ['1.', 'Yes'],
    ['#2', 'No'],
    ['yes', 'Yes'],
    ['YES!', 'Yes'],
    ['no.', 'No'],
    ['3', null],
    ['0', null],
    ['yes please', null],
    ['', null],
  ]
  for (const [said, chosen] of cases) t.equal(chosenOption(said, YES_NO)?.text ?? null, chosen, JSON.stringify(said))
})

t.test('a quick reply is texted with its options numbered, and "1" is answered as the button', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  const asked = await writes(ctx, conversationId, { body: '<p>Shall we call you back?</p>', partType: 'quick_reply', options: YES_NO })
  t.same(textsToCustomer(ctx), ['Shall we call you back?\nReply 1 for Yes, 2 for No.'])
  const recorded = await ctx.app.store.db.selectFrom('quick_replies').selectAll().executeTakeFirstOrThrow()
  t.match(recorded, { part_id: asked.id, intercom_conversation_id: conversationId, settled_at: null })
  t.same(JSON.parse(recorded.options), YES_NO, 'the options sent, in their numbered order')

  const before = ctx.intercom.requests.length
  await text(ctx, '1')
  const replies = ctx.intercom.callsSince(before).filter((r) => r.method === 'POST' && r.path.endsWith('/reply'))
  t.equal(replies.length, 1)
  t.match(replies[0]!.body, { type: 'user', message_type: 'comment', body: '1', reply_options: [YES_NO[0]] }, 'posted as the Yes button')
  const answer = ctx.intercom.conversation(conversationId)!.parts.at(-1)!
  t.match(answer, { part_type: 'comment', body: '1', metadata: { quick_reply_uuid: YES_NO[0]!.uuid } })
  t.not((await ctx.app.store.db.selectFrom('quick_replies').select('settled_at').executeTakeFirstOrThrow()).settled_at, null, 'settled')

  // Answered once: a later "1" is just words.
  const again = ctx.intercom.requests.length
  await text(ctx, '1')
  const later = ctx.intercom.callsSince(again).filter((r) => r.path.endsWith('/reply'))
  t.equal(later.length, 1)
  t.notOk((later[0]!.body as { reply_options?: unknown }).reply_options, 'no button the second time')

  // The person is erased in Intercom: what they were asked goes with their conversation.
  await postIntercomWebhook(ctx, ctx.intercom.contactDeletedNotification(ctx.intercom.contacts[0]!.id))
  await drain(ctx.app)
  t.equal(await ctx.app.store.db.selectFrom('quick_replies').selectAll().executeTakeFirst(), undefined, 'erased')
})

t.test('a bot quick reply with no words: the options alone; "no" chooses No; any other text settles it', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  await writes(
    ctx,
    conversationId,
    { body: '', partType: 'quick_reply', authorType: 'bot', options: YES_NO },
    { topic: 'conversation.operator.replied' },
  )
  t.same(textsToCustomer(ctx), ['Reply 1 for Yes, 2 for No.'])
  await text(ctx, 'No')
  t.match(ctx.intercom.conversation(conversationId)!.parts.at(-1), { body: 'No', metadata: { quick_reply_uuid: YES_NO[1]!.uuid } })

  await writes(ctx, conversationId, { body: 'Still there?', partType: 'quick_reply', options: YES_NO })
  await text(ctx, 'what do you mean?')
  await text(ctx, '2')
  const last = ctx.intercom.conversation(conversationId)!.parts.at(-1)!
  t.equal(last.body, '2')
  t.equal(last.metadata, undefined, 'a "2" after another text is not taken as the button')
  t.equal(notes(ctx, conversationId).length, 0)
})

t.test('a quick reply whose buttons did not come with it: the team is told', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  await writes(ctx, conversationId, { body: '', partType: 'quick_reply' })
  t.same(textsToCustomer(ctx), [])
  t.match(notes(ctx, conversationId), [/buttons did not reach the customer.*Nothing was texted/])
  t.equal(await ctx.app.store.db.selectFrom('quick_replies').selectAll().executeTakeFirst(), undefined)
})

t.test('per part type: what the phone gets', async (t) => {
  // [part type, author, words, texted?, noted?]: every type the stand-in writes, and one it does not know.
  const cases: Array<{ type: string; author: 'admin' | 'bot'; body: string; texted: boolean; noted?: RegExp }> = [
    { type: 'comment', author: 'admin', body: 'A reply', texted: true },
    { type: 'assignment', author: 'admin', body: 'A reply that assigns', texted: true },
    { type: 'open', author: 'admin', body: 'A reply that reopens', texted: true },
    { type: 'close', author: 'admin', body: 'Goodbye :)', texted: true },
    { type: 'snoozed', author: 'admin', body: 'Back to you Monday', texted: true },
    { type: 'assign_and_reopen', author: 'admin', body: 'Picking this up', texted: true },
    { type: 'note', author: 'admin', body: 'For the team', texted: false },
    { type: 'channel_and_reply_time_expectation', author: 'bot', body: 'Acme will reply as soon as they can.', texted: false },
    { type: 'channel_and_reply_time_expectation', author: 'admin', body: 'Acme will reply in a few hours.', texted: false },
    { type: 'conversation_attribute_updated_by_admin', author: 'admin', body: 'Priority set', texted: false },
    {
      type: 'some_part_type_from_2027',
      author: 'admin',
      body: 'New words',
      texted: false,
      noted: /type <code>some_part_type_from_2027<\/code>.*New words/,
    },
  ]
  for (const c of cases) {
    await t.test(`${c.type} by ${c.author}`, async (t) => {
      const ctx = await buildTestApp(t)
      const conversationId = await smsConversation(ctx)
      const known = Object.hasOwn(PART_TYPES, c.type)
      const partType = (known ? c.type : 'comment') as AdminReply['partType']
      await writes(ctx, conversationId, { body: c.body, partType, authorType: c.author }, known ? {} : { rename: c.type })
      t.same(textsToCustomer(ctx), c.texted ? [c.body] : [])
      const written = notes(ctx, conversationId).filter((n) => n !== c.body)
      if (c.noted) t.match(written, [c.noted])
      else t.same(written, [], 'no note')
    })
  }
})
