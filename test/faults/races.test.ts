import t from 'tap'
import { buildTestApp, drain, inboundForm, postSms, type TestApp } from '../helper.js'

/** What the agent sees: the conversation's texts in order, source first. */
function thread(ctx: TestApp, conversationId: string) {
  const c = ctx.intercom.conversation(conversationId)!
  return [c.source.body, ...c.parts.filter((p) => p.part_type === 'comment').map((p) => p.body)]
}

const calls = (ctx: TestApp, method: string, path: RegExp) =>
  ctx.intercom.requests.filter((r) => r.method === method && path.test(r.path) && r.status === 200)

/** Texts as the bridge stored them, per number, in the order it accepted them. */
async function accepted(ctx: TestApp, phone: string) {
  const rows = await ctx.app.store.db
    .selectFrom('messages')
    .select('body')
    .where('direction', '=', 'inbound')
    .where('phone', '=', phone)
    .orderBy('id')
    .execute()
  return rows.map((r) => r.body)
}

t.test(
  'twenty texts at once from a new number, Intercom search lagging and slow to create: one contact, one conversation, all texts in order',
  async (t) => {
    const ctx = await buildTestApp(t)
    const customer = '+14155550123'
    // Intercom's search lags behind creation, so only the bridge's own link can prevent duplicates;
    // slow creates keep the window in which a second job could slip through wide open.
    ctx.intercom.searchLagMs = 60_000
    ctx.intercom.failNext({ delayMs: 300, times: 20, match: { method: 'POST', path: /^\/(contacts|conversations)$/ } })
    const forms = Array.from({ length: 20 }, (_, i) => inboundForm(ctx, { From: customer, Body: `text ${i + 1}` }))
    const answers = await Promise.all(forms.map((f) => postSms(ctx, f)))
    t.same(
      answers.map((a) => a.statusCode),
      Array(20).fill(200),
      'every webhook answered 200',
    )
    await drain(ctx.app)

    t.equal(ctx.intercom.contacts.length, 1, 'one contact')
    t.equal(calls(ctx, 'POST', /^\/contacts$/).length, 1, 'created once')
    t.equal(ctx.intercom.conversations.length, 1, 'one conversation')
    t.equal(calls(ctx, 'POST', /^\/conversations$/).length, 1, 'started once')
    t.same(
      thread(ctx, ctx.intercom.conversations[0]!.id),
      forms.map((f) => f.Body),
      'in the order Twilio delivered them',
    )
    t.same(
      await accepted(ctx, customer),
      forms.map((f) => f.Body),
      'which is the order the bridge stored them in',
    )
  },
)

t.test('five numbers at once while twenty more texts arrive from a sixth: each its own contact and conversation, in order', async (t) => {
  const ctx = await buildTestApp(t)
  // One of them is a known customer, found by search; the other contacts the bridge makes are not
  // searchable for a minute.
  const known = ctx.intercom.addContact({ role: 'user', email: 'known@example.com', phone: '+14155550105' })
  ctx.intercom.searchLagMs = 60_000
  ctx.intercom.failNext({ delayMs: 200, times: 20, match: { method: 'POST', path: /^\/(contacts|conversations)$/ } })
  const few = ['+14155550101', '+14155550102', '+14155550103', '+14155550104', '+14155550105']
  const busy = '+14155550199'

  // Interleaved: a round of the five, then a few from the busy number, and so on, all in flight together.
  const forms: Array<Record<string, string>> = []
  for (let round = 1; round <= 4; round++) {
    for (const n of few) forms.push(inboundForm(ctx, { From: n, Body: `${n.slice(-3)}-${round}` }))
    for (let i = 1; i <= 5; i++) forms.push(inboundForm(ctx, { From: busy, Body: `${busy.slice(-3)}-${(round - 1) * 5 + i}` }))
  }
  const answers = await Promise.all(forms.map((f) => postSms(ctx, f)))
  t.same(
    answers.map((a) => a.statusCode),
    Array(forms.length).fill(200),
    'every webhook answered 200',
  )
  await drain(ctx.app)

  t.equal(ctx.intercom.contacts.length, few.length + 1, 'one contact per number (the known one reused)')
  t.equal(calls(ctx, 'POST', /^\/contacts$/).length, few.length, 'a lead created for each new number, once')
  t.equal(ctx.intercom.conversations.length, few.length + 1, 'one conversation per number')
  for (const phone of [...few, busy]) {
    const contact = ctx.intercom.contacts.find((c) => c.phone === phone)!
    const conversations = ctx.intercom.conversations.filter((c) => c.source.author.id === contact.id)
    t.equal(conversations.length, 1, `${phone.slice(-3)}: one conversation`)
    const sent = forms.filter((f) => f.From === phone).map((f) => f.Body)
    t.same(thread(ctx, conversations[0]!.id), sent, `${phone.slice(-3)}: all ${sent.length} texts, in order`)
    t.same(await accepted(ctx, phone), sent, `${phone.slice(-3)}: stored in the order delivered`)
  }
  const mine = ctx.intercom.conversations.find((c) => c.source.author.id === known.id)
  t.equal(mine?.source.author.type, 'user', 'the known customer writes as themselves, not as a new lead')
  t.same(await ctx.app.store.db.selectFrom('jobs').select(['task', 'last_error']).where('state', '=', 'dead').execute(), [], 'no dead jobs')
})
