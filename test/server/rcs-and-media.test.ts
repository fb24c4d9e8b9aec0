// Issue 25, points 2, 3 and 9 through the real app: RCS replies and their SMS fallback, opt-outs
// shared by every channel of a sender, and a picture that survives the upload host's passing failure.
import t from 'tap'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, postStatus, RECURRING_TASKS, type TestApp } from '../helper.js'
import { TestClock } from '../support/clock.js'

const CUSTOMER = '+14155550123'

async function smsConversation(ctx: TestApp, from = CUSTOMER, extra: Record<string, string> = {}, clock?: TestClock): Promise<string> {
  const res = await postSms(ctx, inboundForm(ctx, { From: from, Body: 'Hi, I need help', ...extra }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await (clock ? settle(ctx, clock, 3) : drain(ctx.app))
  return ctx.intercom.conversations.at(-1)!.id
}

const textsTo = (ctx: TestApp, phone = CUSTOMER) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === phone)
const notes = (ctx: TestApp, id: string) =>
  ctx.intercom
    .conversation(id)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body ?? '')

/** Waits until no job is running or due by the test's clock (the worker claims due jobs as its poll fires). */
async function idle(ctx: TestApp, clock: TestClock): Promise<void> {
  for (let waited = 0; ; waited++) {
    const busy = await ctx.app.store.db
      .selectFrom('jobs')
      .select('id')
      .where('task', 'not in', RECURRING_TASKS)
      .where((eb) => eb.or([eb('state', '=', 'running'), eb.and([eb('state', '=', 'waiting'), eb('run_at', '<=', clock.now())])]))
      .execute()
    if (busy.length === 0) return
    if (waited > 4_000) throw new Error('jobs still due')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * Runs the queue on the test's clock: `steps` times, moves it a second on (a retried job's backoff
 * is under a second here) and waits until nothing runs. The clock never moves under a running job,
 * whose lease would seem to lapse.
 */
async function settle(ctx: TestApp, clock: TestClock, steps = 12): Promise<void> {
  await idle(ctx, clock)
  for (let i = 0; i < steps; i++) {
    clock.advance(1_000)
    await idle(ctx, clock)
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
  t.same(
    downloads.map((r) => r.status),
    [503, 200],
    'tried again after the 503',
  )
  t.same(
    textsTo(ctx).map((m) => [m.body, m.num_media]),
    [['Is it this one?', '1']],
    'one text, with the picture',
  )
  t.equal(notes(ctx, id).filter((n) => /Not every file/.test(n)).length, 0, 'no note about a lost file')
})

t.test('9. a dropped connection is passing too; an expired link (403) is final at once', async (t) => {
  const clock = new TestClock()
  const ctx = await buildTestApp(t, { build: { clock } })
  const id = await smsConversation(ctx, CUSTOMER, {}, clock)
  const src = ctx.intercom.upload({ name: 'photo.png', contentType: 'image/png', data: Buffer.from('png') })
  ctx.intercom.failUpload({ drop: true })
  await postIntercomWebhook(
    ctx,
    ctx.intercom.notification('conversation.admin.replied', id, [
      ctx.intercom.addAdminReply(id, { body: `<p>Here</p><img src="${src}">` }),
    ]),
  )
  await settle(ctx, clock)
  t.same(
    textsTo(ctx).map((m) => [m.body, m.num_media]),
    [['Here', '1']],
  )

  const gone = ctx.intercom.upload({ name: 'old.png', contentType: 'image/png', data: Buffer.from('png') })
  ctx.intercom.expireUploads()
  await postIntercomWebhook(
    ctx,
    ctx.intercom.notification('conversation.admin.replied', id, [
      ctx.intercom.addAdminReply(id, { body: `<p>And this</p><img src="${gone}">` }),
    ]),
  )
  await settle(ctx, clock, 2)
  t.equal(ctx.intercom.requests.filter((r) => r.path.includes('old.png')).length, 1, 'asked once: a 403 is final')
  t.same(
    textsTo(ctx).map((m) => m.body),
    ['Here', 'And this'],
  )
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
  await postIntercomWebhook(
    ctx,
    ctx.intercom.notification('conversation.admin.replied', id, [
      ctx.intercom.addAdminReply(id, { body: `<p>Late one</p><img src="${src}">` }),
    ]),
  )
  await settle(ctx, clock, 3)
  t.equal(textsTo(ctx).length, 0, 'still waiting for the picture while the link works')
  await settle(ctx, clock, 62) // past the link's expiry, a second at a time
  t.same(
    textsTo(ctx).map((m) => [m.body, m.num_media]),
    [['Late one', '0']],
    'sent once, without it',
  )
  t.match(notes(ctx, id).at(-1), /late\.png: Intercom answered 503 when it was downloaded/)
})

const SERVICE = `MG${'e'.repeat(32)}`
const RCS_SENDER = 'rcs:acme_support_agent'
const FALLBACK_NUMBER = '+14155550100'

/** A customer who wrote by RCS through the Messaging Service, and a teammate's reply to them, sent. */
async function rcsReply(ctx: TestApp, words = 'Got it', clock?: TestClock) {
  const id = await smsConversation(ctx, `rcs:${CUSTOMER}`, { To: RCS_SENDER, MessagingServiceSid: SERVICE }, clock)
  await postIntercomWebhook(
    ctx,
    ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: `<p>${words}</p>` })]),
  )
  await (clock ? settle(ctx, clock, 3) : drain(ctx.app))
  const sent = textsTo(ctx).at(-1)!
  const row = async () =>
    ctx.app.store.db.selectFrom('messages').selectAll().where('direction', '=', 'outbound').orderBy('id', 'desc').executeTakeFirstOrThrow()
  return { id, sent, row }
}

const panel = async (ctx: TestApp, details = false) => {
  const { inboxPanel, detailsPanel } = await import('../../canvas/inbox-views.js')
  const { recentMessagesOfContact } = await import('../../shared/db/messages.js')
  const messages = await recentMessagesOfContact(ctx.app.store.db, ctx.intercom.contacts[0]!.id, 10)
  const state = {
    phone: CUSTOMER,
    consent: { state: 'ok' as const, since: null },
    messages,
    welcome: null,
    welcomeEnabled: false,
    mergeInto: null,
    revocation: null,
    scheduled: [],
  }
  return JSON.stringify(details ? detailsPanel(state) : inboxPanel(state))
}

t.test('2. a reply the Messaging Service delivered by RCS is recorded and shown as delivered by RCS', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE } })
  const { sent, row } = await rcsReply(ctx)
  for (const status of ['sent', 'delivered']) {
    const res = await postStatus(ctx, {
      MessageSid: sent.sid,
      MessageStatus: status,
      From: RCS_SENDER,
      To: CUSTOMER,
      MessagingServiceSid: SERVICE,
    })
    t.equal(res.statusCode, 204)
  }
  t.match(await row(), { status: 'delivered', channel: 'rcs', fallback_sid: null })
  t.match(await panel(ctx), /Delivered by RCS/, 'the sidebar says which channel carried it')
})

t.test(
  '2. RCS could not deliver: the SMS fallback (its own MessageSid) updates the same text, whatever the order of callbacks',
  async (t) => {
    for (const order of ['rcs failure first', 'fallback first'] as const) {
      await t.test(order, async (t) => {
        const ctx = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE } })
        const { id, sent, row } = await rcsReply(ctx)
        const fallback = ctx.twilio.fallBackToSms(sent.sid, FALLBACK_NUMBER)
        const rcsFailed = () =>
          postStatus(ctx, {
            MessageSid: sent.sid,
            MessageStatus: 'failed',
            ErrorCode: '63106',
            From: RCS_SENDER,
            To: CUSTOMER,
            MessagingServiceSid: SERVICE,
          })
        const smsStatus = (status: string) =>
          postStatus(ctx, {
            MessageSid: fallback.sid,
            MessageStatus: status,
            From: FALLBACK_NUMBER,
            To: CUSTOMER,
            MessagingServiceSid: SERVICE,
          })
        if (order === 'rcs failure first') await rcsFailed()
        await smsStatus('sent')
        await drain(ctx.app)
        await smsStatus('delivered')
        await drain(ctx.app)
        if (order === 'fallback first') await rcsFailed()
        await drain(ctx.app)
        t.match(await row(), { twilio_sid: sent.sid, fallback_sid: fallback.sid, status: 'delivered', channel: 'sms', error_code: null })
        t.equal(notes(ctx, id).filter((n) => /did not reach/.test(n)).length, 0, 'no failure note: the customer got it by SMS')
        t.match(await panel(ctx), /Delivered · fell back to SMS/)
        t.match(await panel(ctx, true), new RegExp(`${sent.sid} · SMS ${fallback.sid}`), 'both MessageSids in the details')
        t.equal(textsTo(ctx).length, 2, "the bridge sent nothing itself: the second message is Twilio's fallback")
      })
    }
  },
)

t.test(
  '2, 3. the fallback failing too is one note naming both channels; RCS failing (63106) with no fallback fails the text after the wait, in plain words',
  async (t) => {
    const ctx = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE } })
    const { id, sent } = await rcsReply(ctx)
    const fallback = ctx.twilio.fallBackToSms(sent.sid, FALLBACK_NUMBER)
    await postStatus(ctx, {
      MessageSid: sent.sid,
      MessageStatus: 'failed',
      ErrorCode: '63106',
      From: RCS_SENDER,
      To: CUSTOMER,
      MessagingServiceSid: SERVICE,
    })
    await postStatus(ctx, {
      MessageSid: fallback.sid,
      MessageStatus: 'undelivered',
      ErrorCode: '30003',
      From: FALLBACK_NUMBER,
      To: CUSTOMER,
      MessagingServiceSid: SERVICE,
    })
    await drain(ctx.app)
    const failures = notes(ctx, id).filter((n) => /did not reach/.test(n))
    t.equal(failures.length, 1)
    t.match(failures[0], /by RCS, nor by the SMS Twilio sent in its place \(Twilio error 30003\).*unreachable/s)
    t.match(failures[0], fallback.sid)

    const clock = new TestClock()
    const alone = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE }, build: { clock } })
    const only = await rcsReply(alone, 'No SMS sender', clock)
    await postStatus(alone, {
      MessageSid: only.sent.sid,
      MessageStatus: 'undelivered',
      ErrorCode: '63106',
      From: RCS_SENDER,
      To: CUSTOMER,
      MessagingServiceSid: SERVICE,
    })
    await settle(alone, clock, 2)
    t.match(await only.row(), { channel: 'rcs', error_code: 63106 })
    t.notOk(['failed', 'undelivered'].includes((await only.row()).status), 'waiting for a fallback first')
    await settle(alone, clock, 11 * 60) // past FALLBACK_WAIT_MS, a second at a time
    t.match(await only.row(), { status: 'failed', channel: 'rcs', error_code: 63106 })
    t.match(
      notes(alone, only.id).at(-1),
      /did not reach the customer<\/b> by RCS \(Twilio error 63106\): The customer's phone cannot receive RCS messages, and no SMS was sent in its place/,
      '3. in plain words',
    )
  },
)

t.test('2. a callback for a MessageSid the bridge never sent (another app on the service) changes nothing', async (t) => {
  const ctx = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE } })
  const { row } = await rcsReply(ctx)
  const stranger = ctx.twilio.fallBackToSms((await row()).twilio_sid!, FALLBACK_NUMBER)
  stranger.body = 'Your code is 123456' // another app's text to the same customer, through the same service
  const res = await postStatus(ctx, {
    MessageSid: stranger.sid,
    MessageStatus: 'delivered',
    From: FALLBACK_NUMBER,
    To: CUSTOMER,
    MessagingServiceSid: SERVICE,
  })
  t.equal(res.statusCode, 204)
  await drain(ctx.app)
  t.match(await row(), { fallback_sid: null })
})

t.test(
  '2. opt-outs are one for every channel of the sender: a 21610 on the RCS reply or on its SMS fallback opts out the bare number',
  async (t) => {
    const ctx = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE } })
    const { id, sent } = await rcsReply(ctx)
    const fallback = ctx.twilio.fallBackToSms(sent.sid, FALLBACK_NUMBER)
    await postStatus(ctx, {
      MessageSid: fallback.sid,
      MessageStatus: 'failed',
      ErrorCode: '21610',
      From: FALLBACK_NUMBER,
      To: CUSTOMER,
      MessagingServiceSid: SERVICE,
    })
    await drain(ctx.app)
    const consent = await ctx.app.store.db.selectFrom('consent').selectAll().execute()
    t.match(consent, [{ phone: CUSTOMER, state: 'opted_out', source: 'twilio:21610' }], 'the bare number, not rcs:...')
    // The next reply, whichever channel it would go by, is not sent.
    await postIntercomWebhook(
      ctx,
      ctx.intercom.notification('conversation.admin.replied', id, [ctx.intercom.addAdminReply(id, { body: '<p>Still there?</p>' })]),
    )
    await drain(ctx.app)
    t.equal(textsTo(ctx).length, 2, 'no third message')
    t.match(notes(ctx, id).at(-1), /Not sent as SMS:.*opted out/)

    // A 21610 on the RCS attempt itself is final at once: no fallback follows an opt-out.
    const other = await buildTestApp(t, { env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE } })
    const second = await rcsReply(other)
    await postStatus(other, {
      MessageSid: second.sent.sid,
      MessageStatus: 'failed',
      ErrorCode: '21610',
      From: RCS_SENDER,
      To: CUSTOMER,
      MessagingServiceSid: SERVICE,
    })
    await drain(other.app)
    t.match(await second.row(), { status: 'failed', error_code: 21610 })
    t.match(await other.app.store.db.selectFrom('consent').selectAll().execute(), [{ phone: CUSTOMER, state: 'opted_out' }])
  },
)
