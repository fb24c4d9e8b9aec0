// Issue 25, points 2, 3 and 9 through the real app: RCS replies and their SMS fallback, opt-outs
// shared by every channel of a sender, and a picture that survives the upload host's passing failure.
import t from 'tap'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, RECURRING_TASKS, type TestApp } from '../helper.js'
import { TestClock } from '../support/clock.js'

const CUSTOMER = '+14155550123'

async function smsConversation(ctx: TestApp, from = CUSTOMER, extra: Record<string, string> = {}, clock?: TestClock): Promise<string> {
  const res = await postSms(ctx, inboundForm(ctx, { From: from, Body: 'Hi, I need help', ...extra }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await (clock ? settle(ctx, clock, 3) : drain(ctx.app))
  return ctx.intercom.conversations.at(-1)!.id
}

const textsTo = (ctx: TestApp, phone = CUSTOMER) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === phone)
const notes = (ctx: TestApp, id: string) => ctx.intercom.conversation(id)!.parts.filter((p) => p.part_type === 'note').map((p) => p.body ?? '')

/**
 * Runs the queue on the test's clock: waits until no job is running or due by that clock, then moves
 * it a second on, `steps` times (a retried job's backoff is under a second of it here).
 */
async function settle(ctx: TestApp, clock: TestClock, steps = 12): Promise<void> {
  for (let i = 0; i < steps; i++) {
    for (let waited = 0; ; waited++) {
      const busy = await ctx.app.store.db
        .selectFrom('jobs')
        .select('id')
        .where('task', 'not in', RECURRING_TASKS)
        .where((eb) => eb.or([eb('state', '=', 'running'), eb.and([eb('state', '=', 'waiting'), eb('run_at', '<=', clock.now())])]))
        .execute()
      if (busy.length === 0) break
      if (waited > 4_000) throw new Error('jobs still due')
      await new Promise((r) => setTimeout(r, 10))
    }
    clock.advance(1_000)
  }
}

t.test('9. the upload host answering 503 once: the reply waits and goes out once, with its picture, and no note', async (t) => {
  const clock = new TestClock()
  const ctx = await buildTestApp(t, { build: { clock } })
  const id = await smsConversation(ctx, CUSTOMER, {}, clock)
  const jpeg = Buffer.from('ffd8ffe000104a464946', 'hex')
  const src = ctx.intercom.upload({ name: 'photo.jpg', contentType: 'image/jpeg', data: jpeg })
  ctx.intercom.failUpload({ status: 503 })
  const reply = ctx.intercom.addAdminReply(id, { body: `<p>Is it this one?</p><img src="${src}">` })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', id, [reply]))
  await settle(ctx, clock)
  const downloads = ctx.intercom.requests.filter((r) => r.path.startsWith('/uploads/'))
  t.same(downloads.map((r) => r.status), [503, 200], 'tried again after the 503')
  t.same(textsTo(ctx).map((m) => [m.body, m.num_media]), [['Is it this one?', '1']], 'one text, with the picture')
  t.equal(notes(ctx, id).filter((n) => /Not every file/.test(n)).length, 0, 'no note about a lost file')
})

t.test('9. a dropped connection is passing too; an expired link (403) is final at once', async (t) => {
  const clock = new TestClock()
  const ctx = await buildTestApp(t, { build: { clock } })
  const id = await smsConversation(ctx, CUSTOMER, {}, clock)
  const src = ctx.intercom.upload({ name: 'photo.png', contentType: 'image/png', data: Buffer.from('png') })
  ctx.intercom.failUpload({ drop: true })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: `<p>Here</p><img src="${src}">` })]))
  await settle(ctx, clock)
  t.same(textsTo(ctx).map((m) => [m.body, m.num_media]), [['Here', '1']])

  const gone = ctx.intercom.upload({ name: 'old.png', contentType: 'image/png', data: Buffer.from('png') })
  ctx.intercom.expireUploads()
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: `<p>And this</p><img src="${gone}">` })]))
  await settle(ctx, clock, 2)
  t.equal(ctx.intercom.requests.filter((r) => r.path.includes('old.png')).length, 1, 'asked once: a 403 is final')
  t.same(textsTo(ctx).map((m) => m.body), ['Here', 'And this'])
  t.match(notes(ctx, id).at(-1), /old\.png: Intercom's link to it had expired/)
})

t.test("9. the host failing past the link's lifetime: the reply goes without the picture, once, with the note", async (t) => {
  const clock = new TestClock()
  const ctx = await buildTestApp(t, { build: { clock } })
  const id = await smsConversation(ctx, CUSTOMER, {}, clock)
  // Intercom's links carry their own expiry (Unix seconds): one minute from now.
  const expires = Math.floor(clock.now() / 1000) + 60
  const src = `${ctx.intercom.upload({ name: 'late.png', contentType: 'image/png', data: Buffer.from('png') })}?expires=${expires}&signature=abc`
  ctx.intercom.failUpload({ status: 503, times: 1000 })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: `<p>Late one</p><img src="${src}">` })]))
  await settle(ctx, clock, 3)
  t.equal(textsTo(ctx).length, 0, 'still waiting for the picture while the link works')
  clock.advance(61_000)
  await settle(ctx, clock, 3)
  t.same(textsTo(ctx).map((m) => [m.body, m.num_media]), [['Late one', '0']], 'sent once, without it')
  t.match(notes(ctx, id).at(-1), /late\.png: Intercom answered 503 when it was downloaded/)
})
