// Issue 29 point 3 through the real app: automated texts paced to their sender's rate, held by a
// daily cap until the next carrier day, paused by a spike of carrier filtering, resumed by the team.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import {
  buildTestApp,
  drain,
  inboundForm,
  OUR_NUMBER,
  postIntercomWebhook,
  postSms,
  postStatus,
  RECURRING_TASKS,
  type TestApp,
} from '../../helper.js'
import { TestClock } from '../../support/clock.js'
import { runDoctor } from '../../../server/ops/doctor.js'
import { carrierDay, decideSlot, nextCarrierDay, senderLimits, spikeIn } from '../../../server/bridge/pacing.js'
import type { Config } from '../../../server/config.js'

const WELCOME = 'Hi {{first_name|there}}, welcome to Acme!'
const ADMIN_TOKEN = 'admin-token-0123456789abcdef'
// 10:00 in California: no quiet hours, well inside the carrier's day.
const T0 = Date.parse('2026-12-08T18:00:00.000Z')

let crmId = 0
const user = (ctx: TestApp, phone: string) => ctx.intercom.addContact({ role: 'user', external_id: `crm-${++crmId}`, phone })
const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')

async function welcome(ctx: TestApp, count: number, first: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const c = user(ctx, `+1415555${String(first + i).padStart(4, '0')}`)
    const res = await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', c.id))
    if (res.statusCode !== 200) throw new Error(res.body)
  }
}

/** The queue run at the clock's time: every due job, none later (drain with no look-ahead). */
const runDue = (app: FastifyInstance) => app.worker.runUntilIdle({ withinMs: 0, except: RECURRING_TASKS })

/** Held welcome jobs' run_at, in order. */
async function heldWelcomes(app: FastifyInstance): Promise<number[]> {
  const rows = await app.store.db.selectFrom('jobs').select('run_at').where('task', '=', 'automated.send').orderBy('run_at').execute()
  return rows.map((r) => r.run_at)
}

/** Moves the clock to each held job's time and runs it, until none is due before `until`. */
async function runHeldUntil(app: FastifyInstance, clock: TestClock, until: number): Promise<void> {
  for (let round = 0; round < 1_000; round++) {
    await runDue(app)
    const next = (await heldWelcomes(app)).find((at) => at > clock.now())
    if (next === undefined || next > until) return
    clock.set(next)
  }
  throw new Error('still held after 1,000 rounds')
}

const holds = async (app: FastifyInstance, why: string) =>
  (await app.metrics.pacedHolds.get()).values.find((v) => v.labels.why === why)?.value ?? 0

t.test("10 welcomes from a 1-a-second sender go one a second of the clock's time, each job run twice at most", async (t) => {
  const clock = new TestClock(T0)
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME }, build: { clock }, startWorker: false })
  await welcome(ctx, 10, 100)
  await runDue(ctx.app)
  t.equal(sent(ctx).length, 1, 'the first goes at once')
  t.same(
    await heldWelcomes(ctx.app),
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => T0 + s * 1000),
    'the other nine wait for their own second, in order',
  )
  await runHeldUntil(ctx.app, clock, T0 + 60_000)
  t.equal(sent(ctx).length, 10)
  const created = await ctx.app.store.db
    .selectFrom('messages')
    .select('created_at')
    .where('direction', '=', 'outbound')
    .orderBy('id')
    .execute()
  t.same(
    created.map((m) => m.created_at - T0),
    [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000],
  )
  t.equal(await holds(ctx.app, 'rate'), 9, 'each held text waited once: no busy loop')
})

t.test('a daily cap holds the rest until the next carrier day, across a restart', async (t) => {
  const clock = new TestClock(T0)
  const env = { WELCOME_SMS_TEMPLATE: WELCOME, SENDERS: JSON.stringify({ [OUR_NUMBER]: { rate: 100, dailyCap: 3 } }) }
  const first = await buildTestApp(t, { env, build: { clock }, startWorker: false })
  await welcome(first, 5, 200)
  await runHeldUntil(first.app, clock, T0 + 60_000)
  t.equal(sent(first).length, 3)
  const tomorrow = nextCarrierDay(T0)
  t.equal(new Date(tomorrow).toISOString(), '2026-12-09T08:00:00.000Z', "midnight in California: T-Mobile's day")
  t.same(await heldWelcomes(first.app), [tomorrow, tomorrow])

  await first.app.close()
  const again = await buildTestApp(t, {
    env: { ...env, DATABASE_URL: first.config.database.url },
    standIns: first,
    build: { clock },
    startWorker: false,
  })
  await welcome(again, 1, 300)
  await runDue(again.app)
  t.equal(sent(again).length, 3, "the restarted service still counts today's three")
  t.same(await heldWelcomes(again.app), [tomorrow, tomorrow, tomorrow])
  clock.set(tomorrow)
  await runHeldUntil(again.app, clock, tomorrow + 60_000)
  t.equal(sent(again).length, 6, 'the three held go the next day')
})

t.test("carrier filtering spikes: the sender pauses, the team is told, a teammate's reply still goes, a resume sends", async (t) => {
  const clock = new TestClock(T0)
  const env = { WELCOME_SMS_TEMPLATE: WELCOME, ADMIN_TOKEN, SENDERS: JSON.stringify({ [OUR_NUMBER]: { rate: 100 } }) }
  const ctx = await buildTestApp(t, { env, build: { clock }, startWorker: false })
  await welcome(ctx, 20, 400)
  await runHeldUntil(ctx.app, clock, T0 + 60_000)
  t.equal(sent(ctx).length, 20)
  for (const [i, m] of sent(ctx).entries()) {
    const filtered = i >= 17
    await postStatus(ctx, {
      MessageSid: m.sid,
      MessageStatus: filtered ? 'undelivered' : 'delivered',
      ...(filtered ? { ErrorCode: '30007' } : {}),
    })
  }
  // 3 of 20 filtered: over 5%, and not one unlucky text.
  t.match(
    ctx.logs.records().find((r) => r.reason === 'carrier_filtering'),
    { level: 40, sender: '+*******0100', filtered: 3, of: 20 },
  )
  const metrics = await ctx.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.match(metrics.body, /bridge_senders_paused\{reason="carrier_filtering"\} 1/)
  t.match(metrics.body, /bridge_sender_pauses_total\{reason="carrier_filtering"\} 1/)
  const doctor = await runDoctor(ctx.config, ctx.app.store, ctx.app.clients, { now: clock.now(), serviceUrl: 'http://127.0.0.1:9' })
  t.match(
    doctor.find((r) => r.line.startsWith(`Sender ${OUR_NUMBER}`)),
    { ok: false, line: /paused by themselves.*carriers filtered 3 of its last 20.*sms-bridge senders resume \+14155550100/ },
  )

  await welcome(ctx, 1, 500)
  await runDue(ctx.app)
  t.equal(sent(ctx).length, 20, 'a new welcome waits')
  t.equal(await holds(ctx.app, 'paused'), 1)

  // A teammate's reply is never paced: it goes while the sender is paused, with no clock move.
  await postSms(ctx, inboundForm(ctx, { From: '+14155550999', Body: 'hello?' }))
  await drain(ctx.app)
  const conversation = ctx.intercom.conversations.at(-1)!
  const reply = ctx.intercom.addAdminReply(conversation.id, { body: '<p>Hi, how can we help?</p>' })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversation.id, [reply]))
  await drain(ctx.app)
  t.equal(sent(ctx).at(-1)?.body, 'Hi, how can we help?')

  const resume = (who: string) =>
    ctx.app.inject({
      method: 'POST',
      url: `/admin/senders/${encodeURIComponent(who)}/resume`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
  t.equal((await resume('+14155550199')).statusCode, 404, 'a sender that is not paused')
  t.equal((await resume('not a sender')).statusCode, 400)
  t.same((await resume(OUR_NUMBER)).json(), { resumed: OUR_NUMBER })
  await runDue(ctx.app)
  t.equal(sent(ctx).length, 22, 'the held welcome went at once, without waiting for its hour')
  const after = await ctx.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.match(after.body, /bridge_senders_paused\{reason="carrier_filtering"\} 0/)
})

t.test('the rules, one by one', async (t) => {
  const config = {
    senders: new Map([[OUR_NUMBER, { rate: 2 }]]),
    brandDailyCap: null,
    twilio: { phoneNumbers: [OUR_NUMBER, '+18005550100'] } as Config['twilio'],
  }
  t.equal(senderLimits(config, '+14155550199').rate, 1, 'a US long code: 1 a second')
  t.equal(senderLimits(config, OUR_NUMBER).rate, 2, 'as SENDERS sets it')
  t.equal(senderLimits(config, '+18005550100').rate, 3, 'toll-free: 3')
  t.equal(senderLimits(config, '12345').rate, 100, 'a short code: 100')
  t.equal(senderLimits(config, '+447700900123').rate, 10, 'outside +1: 10')
  t.equal(senderLimits(config, `MG${'a'.repeat(32)}`).rate, 5, "a Messaging Service: its listed numbers' sum, each as set")
  t.equal(spikeIn(Array(19).fill('filtered')), null, 'fewer than 20 settled: no verdict')
  t.equal(spikeIn([...Array(2).fill('filtered'), ...Array(18).fill('ok')]), null, 'two unlucky texts do not pause')
  t.match(spikeIn([...Array(10).fill('opted_out'), ...Array(190).fill('ok')]), { why: 'opt_outs', of: 200 })
  t.equal(spikeIn([...Array(9).fill('filtered'), ...Array(191).fill('ok')]), null, 'under 5% of 200')
  t.equal(carrierDay(Date.parse('2026-12-09T07:59:59Z')), '2026-12-08')
  t.equal(new Date(nextCarrierDay(Date.parse('2026-07-01T12:00:00Z'))).toISOString(), '2026-07-02T07:00:00.000Z', 'summer time')
  const pace = { sender: 'x', next_at: 0, promised_until: 0, day: '', day_count: 0, paused_at: null, paused_why: null, paused_detail: null }
  const limits = { rate: 1, rateSet: true, dailyCap: null, brandDailyCap: 1 }
  const brand = { ...pace, sender: '*', day: carrierDay(T0), day_count: 1 }
  t.match(decideSlot({ pace, brand }, limits, T0).answer, { go: false, why: 'daily_cap' }, "BRAND_DAILY_CAP counts every sender's texts")
})
