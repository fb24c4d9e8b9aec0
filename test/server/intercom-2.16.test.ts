// Intercom API 2.16 through the real app: the version the bridge speaks (every request valid on
// 2.16's description, its answers in 2.16's shapes), 2.16-shaped notifications built from the
// description's own examples, and the plain-text webhooks of apps on 2.15 and later, whose inline
// pictures are read back through the REST API.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { WORKSPACE } from '../../sandbox/intercom/state.js'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, type TestApp } from '../helper.js'

const CUSTOMER = '+14155550123'
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')

async function smsConversation(ctx: TestApp): Promise<string> {
  const res = await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Hi, I need help' }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  return ctx.intercom.conversations[0]!.id
}

/** A teammate replies in the inbox; Intercom sends the webhook as the app's version shapes it. */
async function teammateReplies(ctx: TestApp, conversationId: string, html: string) {
  const part = ctx.intercom.addAdminReply(conversationId, { body: html })
  const notification = ctx.intercom.notification('conversation.admin.replied', conversationId, [part])
  const res = await postIntercomWebhook(ctx, notification)
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  return {
    part,
    notification: notification as { data: { item: { conversation_parts: { conversation_parts: Array<{ body: string | null }> } } } },
  }
}

const textsTo = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === CUSTOMER)
const conversationReads = (ctx: TestApp, since: number, id: string) =>
  ctx.intercom.callsSince(since).filter((r) => r.method === 'GET' && r.path === `/conversations/${id}`)

t.test('the bridge speaks Intercom 2.16: every request names it and is valid on its description', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  await teammateReplies(
    ctx,
    conversationId,
    '<p>Thanks, we are on it 👍</p><p>One more line, so the reply is a UCS-2 text of two segments and gets its note: ' +
      'x'.repeat(80) +
      '</p>',
  )
  t.equal(textsTo(ctx).length, 1, 'the reply was texted')
  const calls = ctx.intercom.callsSince(0).filter((r) => !r.path.startsWith('/uploads/'))
  const made = new Set(calls.map((r) => `${r.method} ${r.path.replace(/\/[0-9a-f]{6,}|\/\d+/g, '/{id}')}`))
  for (const op of [
    'POST /contacts/search',
    'POST /contacts',
    'POST /conversations',
    'POST /conversations/{id}/tags',
    'POST /conversations/{id}/reply',
    'PUT /conversations/{id}',
    'PUT /contacts/{id}',
    'POST /data_attributes',
    'POST /tags',
  ]) {
    t.ok(made.has(op), `${op} was made`)
  }
  t.same([...new Set(calls.map((r) => r.headers['intercom-version']))], ['2.16'], 'Intercom-Version: 2.16 on every request')
  t.same(
    calls.filter((r) => r.status >= 400).map((r) => `${r.method} ${r.path} ${r.status}`),
    [],
    "none refused by 2.16's request schemas",
  )
  // The stand-in answered in 2.16's shapes (unassigned 0, priority none), and the bridge went on.
  const conversation = ctx.intercom.conversation(conversationId)!
  t.ok(conversation.read, 'marked read after the text')
  t.ok(
    conversation.parts.some((p) => p.part_type === 'note' && /segments/.test(p.body ?? '')),
    'its note was posted',
  )
})

t.test("an app on 2.15+: a plain-text webhook's reply is read back, so its inline picture is texted", async (t) => {
  const ctx = await buildTestApp(t)
  ctx.intercom.appVersion = '2.16'
  const conversationId = await smsConversation(ctx)
  const picture = ctx.intercom.upload({ name: 'label.png', contentType: 'image/png', data: PNG })

  let since = ctx.intercom.requests.length
  const first = await teammateReplies(ctx, conversationId, `<p>Here is your return label</p><p><img src="${picture}"></p>`)
  t.equal(
    first.notification.data.item.conversation_parts.conversation_parts[0]!.body,
    'Here is your return label',
    'the webhook carries plain text, the picture gone',
  )
  t.equal(conversationReads(ctx, since, conversationId).length, 1, 'the part was read back once')
  let [text] = textsTo(ctx)
  t.equal(text?.body, 'Here is your return label')
  t.equal(text?.num_media, '1', 'with its picture, as MMS')

  // A picture alone: the 2.15+ webhook's comment has nothing left in it.
  since = ctx.intercom.requests.length
  const second = await teammateReplies(ctx, conversationId, `<p><img src="${picture}"></p>`)
  t.equal(second.part.part_type, 'comment')
  t.equal(second.notification.data.item.conversation_parts.conversation_parts[0]!.body, '', 'an empty body in the webhook')
  t.equal(conversationReads(ctx, since, conversationId).length, 1, 'read back')
  text = textsTo(ctx)[1]
  t.equal(text?.num_media, '1', 'the picture was texted')
  t.equal(text?.body, '')

  // Words only: read back too (plain text cannot say whether a picture was there), and texted once.
  await teammateReplies(ctx, conversationId, '<p>Anything else?</p>')
  t.same(
    textsTo(ctx).map((m) => m.body),
    ['Here is your return label', '', 'Anything else?'],
  )
})

t.test('an app on 2.14: HTML webhooks are texted as they come, with no read back', async (t) => {
  const ctx = await buildTestApp(t)
  const conversationId = await smsConversation(ctx)
  const picture = ctx.intercom.upload({ name: 'label.png', contentType: 'image/png', data: PNG })
  const since = ctx.intercom.requests.length
  await teammateReplies(ctx, conversationId, `<p>Here is your return label</p><p><img src="${picture}"></p>`)
  t.equal(conversationReads(ctx, since, conversationId).length, 0)
  t.match(textsTo(ctx), [{ body: 'Here is your return label', num_media: '1' }])
})

type Fixture = { source: string; payload: { topic: string; app_id: string; data: { item: Record<string, any> } } }
const DIR = join(import.meta.dirname, '..', 'fixtures', 'real', 'intercom', 'api-2.16')

/** What each 2.16-shaped notification (built from the description's examples) must do. */
const EXPECTED: Record<string, { texts: string[]; closed?: boolean }> = {
  'admin-closed-with-message-2.16.json': { texts: ['Goodbye :)'], closed: true },
  'admin-replied-comment-2.16.json': { texts: ['Okay!'] },
  'contact-lead-created-2.16.json': { texts: [] },
}

t.test("2.16-shaped notifications from the description's examples go through the real app", async (t) => {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
  t.same(files, Object.keys(EXPECTED).sort(), 'an expectation for every fixture')
  for (const file of files) {
    await t.test(file, async (t) => {
      const fixture = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Fixture
      t.ok(fixture.source.length > 40, 'it names where it came from')
      const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Hi {{first_name|there}}, welcome!' } })
      ctx.intercom.appVersion = '2.16'
      const payload = structuredClone({ ...fixture.payload, app_id: WORKSPACE })
      const item = payload.data.item
      if (payload.topic.startsWith('contact.')) {
        ctx.intercom.addContact({ id: item.id, role: 'lead', email: item.email, phone: item.phone, name: item.name })
      } else {
        item.id = await smsConversation(ctx)
        item.updated_at = Math.floor(Date.now() / 1000) + 1
      }
      const res = await postIntercomWebhook(ctx, payload)
      t.equal(res.statusCode, 200, res.body)
      t.notMatch(res.body, /invalid|refused|ignored/, 'taken')
      await drain(ctx.app)
      t.equal((await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().execute()).length, 1, 'stored')
      t.same(
        textsTo(ctx).map((m) => m.body),
        EXPECTED[file]!.texts,
        'texts to the customer',
      )
      if (EXPECTED[file]!.closed !== undefined) {
        const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
        t.equal(link.closed_at !== null, EXPECTED[file]!.closed)
      }
      if (payload.topic.startsWith('contact.')) {
        const send = await ctx.app.store.db.selectFrom('automated_sends').selectAll().executeTakeFirst()
        t.match(
          send,
          { status: 'skipped', reason: /no valid mobile number/ },
          "the welcome is considered: the example's phone is not a valid number",
        )
      }
    })
  }
})
