// The security issue's Messenger findings (points 4, 5, 6 and 9), each played as an attack through
// the real app on loopback and failing harmlessly now. Time that matters (UTC days, code expiry, a
// canvas's age) is a test clock the app reads, moved by the test, never waited for.
import t from 'tap'
import { NONCE_MAX_AGE_MS } from '../../canvas/nonce.js'
import { RECEIPT_RETENTION_MS, prune } from '../../server/bridge/maintenance.js'
import { TestClock } from '../support/clock.js'
import type { Teardown } from '../support/db.js'
import { until } from '../support/wait.js'
import { buildTestApp, drain, inboundForm, postCanvas, postIntercomWebhook, postSms, type TestApp, type TestAppOptions } from '../helper.js'

const ADMIN_TOKEN = 'admin-token-0123456789abcdef'
const DAY = 24 * 3_600_000
/** A morning, so a day budget used up now is used up early. */
const MORNING = Date.UTC(2027, 2, 1, 9)
const NEUTRAL = 'We could not text that number. Check it, or ask us in the chat.'

const outbound = (ctx: TestApp, to?: string) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && (!to || m.to === to))
const metrics = async (ctx: TestApp) =>
  (await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body

/** The app on a clock the test moves; polls a minute of that clock apart, so a jump of hours fires few. */
async function appAt(t: Teardown, clock: TestClock, env: Record<string, string> = {}, options: TestAppOptions = {}) {
  return buildTestApp(t, { ...options, env: { ADMIN_TOKEN, ...env }, build: { clock, worker: { pollIntervalMs: 60_000 } } })
}

/** A Canvas Kit session as Intercom runs it: each submit carries the canvas it was clicked in. */
function canvasSession(ctx: TestApp, base: Record<string, unknown>) {
  let current: any = null
  const post = async (body: Record<string, unknown>) => {
    const res = await postCanvas(ctx, `/canvas/messenger/${body.component_id ? 'submit' : 'initialize'}`, body)
    if (res.statusCode === 200) current = res.json().canvas
    return res
  }
  const components = () => current?.content.components as Array<{ id?: string; text?: string; label?: string }>
  return {
    open: () => post(base),
    /** The body a click sends (signed as it is posted), so a test can send it again byte for byte. */
    clickBody: (component_id: string, input_values: Record<string, unknown> = {}) => ({
      ...base,
      component_id,
      input_values,
      current_canvas: current,
    }),
    click: (component_id: string, input_values: Record<string, unknown> = {}) =>
      post({ ...base, component_id, input_values, current_canvas: current }),
    raw: post,
    text: () =>
      components()
        .map((c) => c.text ?? c.label ?? '')
        .join('\n'),
    /** The error the card shows, if any. */
    error: () => components().find((c) => c.id === 'phone_error' || c.id === 'code_error')?.text,
  }
}

function visitorOf(ctx: TestApp) {
  const visitor = ctx.intercom.addContact({ role: 'lead', name: 'Mallory' })
  return {
    visitor,
    session: canvasSession(ctx, {
      workspace_id: 'abc123xy',
      user: { type: 'user', id: visitor.id },
      context: { location: 'home', locale: 'en' },
    }),
  }
}

/** A customer who texted us: their number is linked to their contact. */
async function customerWhoTexted(ctx: TestApp, phone: string, body = 'hello') {
  await postSms(ctx, inboundForm(ctx, { From: phone, Body: body }))
  await drain(ctx.app)
}

t.test('4. the Messenger card is no oracle: one sentence for every refused number, paid for first, limited per contact', async (t) => {
  const clock = new TestClock(MORNING)
  const ctx = await appAt(t, clock, { CAP_SUBMITS_PER_CONTACT_DAY: '4' })
  const customer = '+14155550123'
  const optedOut = '+14155550140'
  const unroutable = '+14155550141'
  await customerWhoTexted(ctx, customer)
  await customerWhoTexted(ctx, optedOut, 'STOP')
  ctx.twilio.rejectRecipient(unroutable, 21612)

  const { session } = visitorOf(ctx)
  await session.open()
  const answers: Array<string | undefined> = []
  for (const phone of [customer, optedOut, unroutable]) {
    await session.click('subscribe', { phone, consent: ['agree'] })
    answers.push(session.error())
  }
  t.same(answers, [NEUTRAL, NEUTRAL, NEUTRAL], "a customer's number, an opted-out one and one Twilio refused read the same")
  t.notMatch(session.text(), /cannot route|landline|Twilio/, "Twilio's own sentence is never shown to a visitor")
  t.equal(outbound(ctx).filter((m) => m.to !== customer && m.to !== optedOut).length, 0, 'nothing was texted')

  // Each of those three cost a submit, before the number's state was read: one left, then none.
  await session.click('subscribe', { phone: '+14155550150', consent: ['agree'] })
  t.match(session.text(), /We texted a 6-digit code/)
  await session.open()
  await session.click('subscribe', { phone: '+14155550151', consent: ['agree'] })
  t.equal(session.error(), NEUTRAL, 'the fifth submit of the day is refused, whatever the number')
  t.equal(outbound(ctx, '+14155550151').length, 0)
  // A typo is not a number's state: it stays specific, and costs nothing.
  await session.click('subscribe', { phone: '12', consent: ['agree'] })
  t.match(session.error(), /with its country code/)

  // The team still learns why, number masked.
  const body = await metrics(ctx)
  for (const reason of ['linked_elsewhere', 'opted_out', 'twilio_refused', 'submit_cap']) {
    t.match(body, new RegExp(`bridge_outsider_texts_refused_total\\{kind="verification",reason="${reason}"\\} 1`), reason)
  }
  t.match(ctx.logs.text, /"code":21612/)
  for (const phone of [customer, optedOut, unroutable, '+14155550151'])
    t.notMatch(ctx.logs.text, phone.slice(1), 'no full number in the logs')
  // A new day, a new allowance.
  clock.advance(DAY)
  await session.click('subscribe', { phone: '+14155550151', consent: ['agree'] })
  t.match(session.text(), /We texted a 6-digit code/)
})

t.test(
  '5. "Send a new code" is refused as the first send would be, and not after the code expired; a 21610 records the opt-out',
  async (t) => {
    const clock = new TestClock(MORNING)
    const ctx = await appAt(t, clock)
    const resendLater = async (session: ReturnType<typeof visitorOf>['session']) => {
      clock.advance(61_000)
      await session.click('resend')
    }

    // The number opts out after its first code: no second one.
    const a = visitorOf(ctx)
    await a.session.open()
    await a.session.click('subscribe', { phone: '+14155550160', consent: ['agree'] })
    await customerWhoTexted(ctx, '+14155550160', 'STOP')
    const before = outbound(ctx, '+14155550160').length
    await resendLater(a.session)
    t.equal(outbound(ctx, '+14155550160').length, before, 'no code to a number that opted out since')
    t.equal(a.session.error(), NEUTRAL)

    // The number's owner texts us after the visitor asked for a code: it is theirs now, no second code.
    const b = visitorOf(ctx)
    await b.session.open()
    await b.session.click('subscribe', { phone: '+14155550161', consent: ['agree'] })
    await customerWhoTexted(ctx, '+14155550161', 'it is me')
    await resendLater(b.session)
    t.equal(
      outbound(ctx, '+14155550161').filter((m) => /verification code/.test(m.body)).length,
      1,
      'no code to a number linked to someone else since',
    )
    t.equal(b.session.error(), NEUTRAL)

    // A card left open past its code's ten minutes starts again.
    const c = visitorOf(ctx)
    await c.session.open()
    await c.session.click('subscribe', { phone: '+14155550162', consent: ['agree'] })
    clock.advance(10 * 60_000 + 1)
    await c.session.click('resend')
    t.equal(outbound(ctx, '+14155550162').length, 1, 'no code after the first expired')
    t.match(c.session.error(), /expired\. Start again/)
    t.match(c.session.text(), /Text me/, 'back to the number')

    // Twilio says the number opted out (21610) when a code goes: recorded, as for any other text.
    ctx.twilio.rejectRecipient('+14155550163', 21610)
    const d = visitorOf(ctx)
    await d.session.open()
    await d.session.click('subscribe', { phone: '+14155550163', consent: ['agree'] })
    t.match(await ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', '+14155550163').executeTakeFirst(), {
      state: 'opted_out',
      source: 'twilio:21610',
    })
    t.equal(d.session.error(), NEUTRAL)
  },
)

t.test(
  '6. codes and welcomes have day budgets of their own; a welcome the day cap refused waits for the next day; early exhaustion is told',
  async (t) => {
    const clock = new TestClock(MORNING)
    const ctx = await appAt(t, clock, { CAP_CODES_PER_DAY: '2', CAP_WELCOMES_PER_DAY: '1', WELCOME_SMS_TEMPLATE: 'Welcome!' })

    // Throwaway visitors spend the codes...
    for (const phone of ['+14155550170', '+14155550171']) {
      const { session } = visitorOf(ctx)
      await session.open()
      await session.click('subscribe', { phone, consent: ['agree'] })
    }
    const late = visitorOf(ctx)
    await late.session.open()
    await late.session.click('subscribe', { phone: '+14155550172', consent: ['agree'] })
    t.equal(outbound(ctx, '+14155550172').length, 0, 'the third code of the day is refused')
    t.equal(late.session.error(), NEUTRAL)

    // ...and a new contact is welcomed all the same (a user from the team's systems: a lead's own
    // phone gets no automated text at all, test/faults/visitor-fields.test.ts).
    const first = ctx.intercom.addContact({ role: 'user', external_id: 'crm-180', phone: '+14155550180' })
    await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', first.id))
    await drain(ctx.app)
    t.same(
      outbound(ctx, '+14155550180').map((m) => m.body),
      ['Welcome!'],
    )

    // The welcomes' budget is spent: the next contact's welcome waits for the next UTC day, never dropped.
    const second = ctx.intercom.addContact({ role: 'user', external_id: 'crm-181', phone: '+14155550181' })
    await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', second.id))
    const held = async () =>
      ctx.app.store.db
        .selectFrom('jobs')
        .selectAll()
        .where('task', '=', 'automated.send')
        .where('run_at', '=', MORNING - 9 * 3_600_000 + DAY)
        .executeTakeFirst()
    await drain(ctx.app)
    t.ok(await held(), 'held until midnight UTC')
    t.equal(outbound(ctx, '+14155550181').length, 0)
    t.match(
      await ctx.app.store.db.selectFrom('automated_sends').selectAll().where('intercom_contact_id', '=', second.id).executeTakeFirst(),
      { status: 'queued' },
    )

    // Both budgets ran out in the morning: the team is told once each.
    const body = await metrics(ctx)
    t.match(body, /bridge_outsider_budget_exhausted_total\{kind="codes"\} 1/)
    t.match(body, /bridge_outsider_budget_exhausted_total\{kind="welcomes"\} 1/)
    t.match(ctx.logs.text, /day budget of codes ran out before 18:00 UTC/)

    clock.set(MORNING - 9 * 3_600_000 + DAY)
    await until(() => outbound(ctx, '+14155550181').length > 0, 'the held welcome to go the next day', 40_000)
    t.same(
      outbound(ctx, '+14155550181').map((m) => m.body),
      ['Welcome!'],
    )
  },
)

t.test('9. a captured canvas submit cannot be replayed once its receipt is pruned; a week-old canvas is out of date', async (t) => {
  const clock = new TestClock(MORNING)
  // No worker: nothing here is a job, and its timers would fire all the way through a month.
  const ctx = await appAt(t, clock, {}, { startWorker: false })
  const { session } = visitorOf(ctx)
  await session.open()
  const captured = session.clickBody('subscribe', { phone: '+14155550190', consent: ['agree'] })
  await session.raw(captured)
  t.equal(outbound(ctx, '+14155550190').length, 1)
  await session.raw(captured)
  t.match(session.text(), /already done/, 'within the window, the receipt refuses it')

  // A month on, the daily clean-up has forgotten the receipt; the same bytes again change nothing.
  clock.advance(RECEIPT_RETENTION_MS + DAY)
  await prune(ctx.app.bridge, clock.now())
  t.equal(
    (await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().where('source', '=', 'canvas').execute()).length,
    0,
    'the receipt is gone',
  )
  await session.raw(captured)
  t.match(session.text(), /This view is out of date\. Refresh and try again\./)
  t.equal(outbound(ctx, '+14155550190').length, 1, 'no second code')

  // A nonce of the right shape that we did not sign is refused too.
  const forged = {
    ...captured,
    current_canvas: { ...captured.current_canvas, stored_data: { nonce: `${clock.now().toString(36)}.AAAAAAAAAAAA.${'A'.repeat(22)}` } },
  }
  await session.raw(forged)
  t.match(session.text(), /out of date/)

  // A card left open six days still works; one left eight days does not.
  await session.open()
  clock.advance(6 * DAY)
  await session.click('subscribe', { phone: '+14155550191', consent: ['agree'] })
  t.match(session.text(), /We texted a 6-digit code/)
  await session.open()
  clock.advance(NONCE_MAX_AGE_MS + 1)
  await session.click('subscribe', { phone: '+14155550192', consent: ['agree'] })
  t.match(session.text(), /out of date/)
  t.equal(outbound(ctx, '+14155550192').length, 0)
  t.ok(RECEIPT_RETENTION_MS > NONCE_MAX_AGE_MS + DAY, 'receipts outlive nonces by more than the daily clean-up')
})
