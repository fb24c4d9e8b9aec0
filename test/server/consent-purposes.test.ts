import t from 'tap'
import { requestAutomated, sendKeys } from '../../server/bridge/automated.js'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, type TestApp } from '../helper.js'
import { TestClock } from '../support/clock.js'

const SECRET = 'series-secret-0123456789'
const PHONE = '+14155550191'
const BEFORE = Date.UTC(2026, 11, 7, 12)
const REVOKE_ALL = Date.UTC(2027, 0, 31)

/**
 * A user who texted STOP, then a Series step (marketing), a reply-by-text confirmation
 * (transactional; its job runs after the STOP) and a teammate's reply: answers what was texted to them.
 */
async function afterStop(t: Parameters<typeof buildTestApp>[0], scope: 'all' | 'marketing', clock: TestClock) {
  const ctx = await buildTestApp(t, { env: { SERIES_WEBHOOK_SECRET: SECRET, OPT_OUT_SCOPE: scope }, build: { clock } })
  const contact = ctx.intercom.addContact({ role: 'user', external_id: 'crm-1', phone: PHONE })
  await postSms(ctx, inboundForm(ctx, { From: PHONE, Body: 'STOP' }))
  await drain(ctx.app)
  return { ctx, texted: () => sendAll(ctx, contact.id) }
}

async function sendAll(ctx: TestApp, contactId: string): Promise<string[]> {
  const series = await ctx.app.inject({
    method: 'POST',
    url: '/intercom/series',
    headers: { 'x-bridge-secret': SECRET },
    payload: { contact_id: contactId, step_id: `promo-${ctx.app.bridge.clock.now()}`, message: 'Sale!' },
  })
  if (series.statusCode !== 202) throw new Error(series.body)
  const now = ctx.app.bridge.clock.now()
  await ctx.app.store.transaction((trx) =>
    requestAutomated(
      trx,
      {
        key: `${sendKeys.confirmation(contactId, PHONE)}:${now}`,
        kind: 'confirmation',
        contactId,
        phone: PHONE,
        body: 'Thanks! You will now get our replies by text.',
        requestedBy: 'messenger',
      },
      now,
    ),
  )
  const conversation = ctx.intercom.conversations.find((c) => c.contacts[0]!.id === contactId)!
  const part = ctx.intercom.addAdminReply(conversation.id, { body: `<p>Are you there? ${now}</p>` })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversation.id, [part]))
  await drain(ctx.app)
  return ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === PHONE).map((m) => m.body)
}

const scopeWarning = (ctx: TestApp) => ctx.logs.records().filter((r) => /OPT_OUT_SCOPE=marketing is ignored/.test(String(r.msg)))

t.test('OPT_OUT_SCOPE=marketing before 2027-01-31: an opt-out stops marketing texts and replies, not transactional ones', async (t) => {
  const { ctx, texted } = await afterStop(t, 'marketing', new TestClock(BEFORE))
  t.same(await texted(), ['Thanks! You will now get our replies by text.'], 'only the confirmation')
  const sends = await ctx.app.store.db.selectFrom('automated_sends').select(['kind', 'status', 'reason']).orderBy('kind').execute()
  t.match(sends, [
    { kind: 'confirmation', status: 'sent' },
    { kind: 'series', status: 'skipped', reason: /opted out/ },
  ])
  const notes = ctx.intercom.conversations.flatMap((c) =>
    ctx.intercom
      .conversation(c.id)!
      .parts.filter((p) => p.part_type === 'note')
      .map((p) => p.body),
  )
  t.ok(
    notes.some((n) => /Not sent as SMS.*opted out/.test(n ?? '')),
    "the teammate's reply is refused with a note, as before",
  )
  t.same(scopeWarning(ctx), [], 'no warning before the date')
})

t.test('OPT_OUT_SCOPE=all (the default): an opt-out stops every automated text', async (t) => {
  const { texted } = await afterStop(t, 'all', new TestClock(BEFORE))
  t.same(await texted(), [])
  t.equal((await buildTestApp(t)).config.optOutScope, 'all', 'all unless set')
})

t.test('from 2027-01-31 marketing is ignored with a warning: one revocation stops all automated texts', async (t) => {
  const { ctx, texted } = await afterStop(t, 'marketing', new TestClock(REVOKE_ALL))
  t.same(await texted(), [])
  t.equal(scopeWarning(ctx).length, 1, 'said once at start')
  t.equal(scopeWarning(ctx)[0]!.level, 40)
})

t.test('a service running across 2027-01-31 switches at the date, on its clock', async (t) => {
  const clock = new TestClock(REVOKE_ALL - 60_000)
  const { texted } = await afterStop(t, 'marketing', clock)
  t.same(await texted(), ['Thanks! You will now get our replies by text.'], 'a minute before: still sent')
  clock.set(REVOKE_ALL)
  t.same(await texted(), ['Thanks! You will now get our replies by text.'], 'at the date: no second one')
})

t.test('OPT_OUT_SCOPE takes all or marketing only', async (t) => {
  const ctx = buildTestApp(t, { env: { OPT_OUT_SCOPE: 'some' } })
  await t.rejects(ctx, /OPT_OUT_SCOPE is invalid: expected all or marketing/)
})
