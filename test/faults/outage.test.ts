import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, type TestApp } from '../helper.js'
import { until } from '../support/wait.js'

// Retries come quickly (so an outage of a second or two is over in seconds), yet an outage this long
// stays far from the 20 attempts after which a job is dead.
const BACKOFF = { baseMs: 100, maxMs: 500 }

async function text(ctx: TestApp, from: string, body: string) {
  const res = await postSms(ctx, inboundForm(ctx, { From: from, Body: body }))
  if (res.statusCode !== 200) throw new Error(`webhook answered ${res.statusCode}: ${res.body}`)
}

/** What the team sees in a customer's conversation: the texts in order (notes left out). */
function thread(ctx: TestApp, phone: string): string[] {
  const contact = ctx.intercom.contacts.find((c) => c.phone === phone)
  const conversation = contact && ctx.intercom.conversations.find((c) => c.contacts[0]!.id === contact.id)
  if (!conversation) return []
  return [
    conversation.source.body,
    ...conversation.parts.filter((p) => p.part_type === 'comment' && p.author.id === contact.id).map((p) => p.body ?? ''),
  ]
}

async function deadJobs(ctx: TestApp) {
  return ctx.app.store.db.selectFrom('jobs').select(['task', 'last_error']).where('state', '=', 'dead').execute()
}

t.test(
  'Intercom down (503, then 429 with a reset) while customers text: afterwards every text is in Intercom once, in order, nothing dead',
  async (t) => {
    const ctx = await buildTestApp(t, { build: { worker: { backoff: BACKOFF } } })
    const known = ['+14155550201', '+14155550202', '+14155550203'] // texted before: a conversation exists
    const fresh = ['+14155550301', '+14155550302'] // their first text arrives during the outage
    for (const phone of known) await text(ctx, phone, `${phone.slice(-3)} hello`)
    await drain(ctx.app)

    const startedAt = Date.now()
    const downUntil = startedAt + 1_500
    // Long enough that some delivery meets it even if the machine stalls this process for a second.
    const limitedUntil = downUntil + 3_000
    ctx.intercom.failNext({ status: 503, untilMs: downUntil })
    ctx.intercom.failNext({ status: 429, untilMs: limitedUntil, headers: { 'x-ratelimit-reset': String(Math.ceil(limitedUntil / 1000)) } })

    // Every customer texts every 300 ms, through the 503s and the 429s and a little after; the webhooks
    // are answered 200 all the same (Intercom is not called before the answer).
    const sent = new Map<string, string[]>([...known, ...fresh].map((p) => [p, known.includes(p) ? [`${p.slice(-3)} hello`] : []]))
    await Promise.all(
      [...known, ...fresh].map(async (phone) => {
        for (let i = 1; Date.now() < limitedUntil + 300; i++) {
          const body = `${phone.slice(-3)} text ${i}`
          await text(ctx, phone, body)
          sent.get(phone)!.push(body)
          await sleep(300)
        }
      }),
    )
    const expected = (phone: string) => sent.get(phone)!
    await until(
      () => [...known, ...fresh].every((p) => thread(ctx, p).length >= expected(p).length),
      'every text to reach Intercom',
      20_000,
    )
    await drain(ctx.app)

    const unavailable = ctx.intercom.requests.filter((r) => r.status === 503)
    const limited = ctx.intercom.requests.filter((r) => r.status === 429)
    t.ok(unavailable.length > 0, `Intercom answered 503 (${unavailable.length} times)`)
    t.ok(limited.length > 0, `Intercom answered 429 (${limited.length} times)`)
    // Each customer's texts go one at a time: a job that met the limit waited for the reset instead of
    // trying again into it, so no customer met it twice.
    t.ok(limited.length <= known.length + fresh.length, 'at most one 429 per customer queue: the reset was waited for')

    for (const phone of [...known, ...fresh]) t.same(thread(ctx, phone), expected(phone), `${phone.slice(-3)}: every text once, in order`)
    t.equal(ctx.intercom.contacts.length, known.length + fresh.length, 'one contact per customer')
    t.equal(ctx.intercom.conversations.length, known.length + fresh.length, 'one conversation per customer')
    t.same(await deadJobs(ctx), [], 'no dead jobs')

    // Late deliveries keep the time the customer sent them.
    const stored = await ctx.app.store.db
      .selectFrom('messages')
      .select(['body', 'status', 'created_at'])
      .where('direction', '=', 'inbound')
      .execute()
    t.ok(
      stored.every((m) => m.status === 'delivered_to_intercom'),
      'every stored text is marked delivered',
    )
    const partTimes = new Map(
      ctx.intercom.conversations.flatMap((c) => [
        [c.source.body, c.created_at] as const,
        ...c.parts.map((p) => [p.body ?? '', p.created_at] as const),
      ]),
    )
    t.ok(
      stored.every((m) => partTimes.get(m.body) === Math.floor(m.created_at / 1000)),
      'each text sits at the time it was sent, not when Intercom came back',
    )
  },
)

t.test(
  'Twilio down (503, then 429 without a reset time) while teammates reply: each reply reaches the customer once, in order',
  async (t) => {
    const ctx = await buildTestApp(t, { build: { worker: { backoff: BACKOFF } } })
    const customers = ['+14155550401', '+14155550402', '+14155550403']
    for (const phone of customers) await text(ctx, phone, 'I need help')
    await drain(ctx.app)
    const conversationOf = (phone: string) =>
      ctx.intercom.conversations.find((c) => c.contacts[0]!.id === ctx.intercom.contacts.find((x) => x.phone === phone)!.id)!.id

    const startedAt = Date.now()
    const downUntil = startedAt + 1_000
    const limitedUntil = downUntil + 2_500
    // While Twilio is down, creates and the message-log lookups a retry makes first both fail; then
    // creates are refused with 429.
    const messages = /\/Messages\.json$/
    ctx.twilio.failNext({ status: 503, untilMs: downUntil, match: { path: messages } })
    ctx.twilio.failNext({ status: 429, untilMs: limitedUntil, match: { method: 'POST', path: messages } })

    const REPLIES = 3
    const reply = (phone: string, i: number) => `reply ${i} to ${phone.slice(-3)}`
    await Promise.all(
      customers.map(async (phone) => {
        const conversationId = conversationOf(phone)
        for (let i = 1; i <= REPLIES; i++) {
          const part = ctx.intercom.addAdminReply(conversationId, { body: `<p>${reply(phone, i)}</p>` })
          const res = await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
          t.equal(res.statusCode, 200, 'the reply webhook is answered while Twilio is down')
          await sleep(250)
        }
      }),
    )

    const sent = (phone: string) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === phone).map((m) => m.body)
    await until(() => customers.every((p) => sent(p).length >= REPLIES), 'every reply to be sent', 20_000)
    await drain(ctx.app)

    const creates = ctx.twilio.requests.filter((r) => r.method === 'POST' && messages.test(r.path))
    t.ok(
      creates.some((r) => r.status === 503),
      'Twilio answered 503',
    )
    t.ok(
      creates.some((r) => r.status === 429),
      'Twilio answered 429',
    )
    for (const phone of customers) {
      t.same(
        sent(phone),
        Array.from({ length: REPLIES }, (_, i) => reply(phone, i + 1)),
        `${phone.slice(-3)}: each reply once, in order`,
      )
      // Twilio's 429 says nothing about when to come back: the bridge waits 5 s rather than hammering.
      const mine = creates.filter((r) => (r.body as Record<string, unknown>).To === phone)
      for (const [i, r] of mine.entries()) {
        if (r.status === 429 && mine[i + 1])
          t.ok(mine[i + 1]!.at - r.at >= 4_900, `${phone.slice(-3)}: the create after a 429 came ${mine[i + 1]!.at - r.at} ms later`)
      }
    }
    const rows = await ctx.app.store.db.selectFrom('messages').selectAll().where('direction', '=', 'outbound').execute()
    t.equal(rows.length, customers.length * REPLIES, 'one stored text per reply')
    t.ok(
      rows.every((r) => r.twilio_sid && ctx.twilio.messages.some((m) => m.sid === r.twilio_sid)),
      'each carries the sid Twilio gave it',
    )
    t.ok(
      rows.every((r) => r.status === 'queued' && r.error_code === null),
      'none marked failed',
    )
    const notes = ctx.intercom.conversations.flatMap((c) => c.parts.filter((p) => p.part_type === 'note'))
    t.equal(notes.length, 0, 'no failure note: an outage is not a failure')
    t.same(await deadJobs(ctx), [], 'no dead jobs')
  },
)
