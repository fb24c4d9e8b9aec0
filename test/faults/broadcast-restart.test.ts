import t from 'tap'
import { join } from 'node:path'
import { buildTestApp, drain, type TestApp } from '../helper.js'
import { advanceUntil, TestClock } from '../support/clock.js'
import { tempDir } from '../support/db.js'
import { automatedSendTask } from '../../server/bridge/automated.js'
import { dispatchTask } from '../../server/bridge/broadcast.js'
import { enqueueTask } from '../../server/queue/task.js'
import { broadcastSendKey } from '../../shared/db/broadcasts.js'

const TOKEN = 'admin-token-0123456789abcdef'
const ENV = { ADMIN_TOKEN: TOKEN, SMS_TEMPLATES: JSON.stringify({ promo: 'Hi {{first_name|there}}, our winter sale starts today.' }) }

/**
 * Quiet hours around Tokyo's present hour and not UTC's: the test runs on the wall clock's time,
 * because the Twilio stand-in dates its texts by it and a retry matches a lost text by that date.
 */
function quietInTokyo(now: number): Record<string, string> {
  const tokyo = (new Date(now).getUTCHours() + 9) % 24
  const hh = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`
  return { QUIET_HOURS: `${hh(tokyo - 1)}-${hh(tokyo + 2)}`, QUIET_HOURS_TIMEZONE: 'UTC' }
}

async function api(ctx: TestApp, method: 'GET' | 'POST', url: string, payload?: unknown) {
  const res = await ctx.app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${TOKEN}` } })
  return res.json<Record<string, any>>()
}

/** Drains the queue while moving the test's clock a second at a time (a retry's backoff is on it). */
async function drainOn(ctx: TestApp, clock: TestClock) {
  let done = false
  const drained = drain(ctx.app).finally(() => (done = true))
  await advanceUntil(clock, () => done, 'the queue drained', { step: 1_000, limitMs: 120_000 })
  await drained
}

const sentTo = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => m.to)

t.test('a broadcast survives a restart midway, and nobody gets it twice', async (t) => {
  const dbFile = join(tempDir(t), 'bridge.db')
  const clock = new TestClock(Date.now())
  const env = { ...ENV, ...quietInTokyo(clock.now()), DATABASE_URL: `file:${dbFile}` }
  const first = await buildTestApp(t, { env, build: { clock } })
  const japan = { type: 'location' as const, country: 'Japan', region: null, city: null }
  const members = Array.from({ length: 18 }, (_, i) =>
    first.intercom.addContact({
      role: 'user',
      external_id: `crm-${i}`,
      name: 'Ana',
      phone: `+1415555${String(1000 + i)}`,
      ...(i % 3 === 2 ? { location: japan } : {}),
    }),
  )
  const segment = first.intercom.addSegment('winter sale', members)
  const { id } = await api(first, 'POST', '/admin/broadcasts', { audience: { kind: 'segment', id: segment.id }, template: 'promo' })
  await drain(first.app)
  await api(first, 'POST', `/admin/broadcasts/${id}/confirm`)
  // Twilio takes one text and the answer is lost: the bridge cannot know it went.
  first.twilio.failNext({ status: 500, afterAccept: true, match: { method: 'POST', path: /Messages\.json$/ } })
  await drainOn(first, clock)
  t.equal(sentTo(first).length, 12, 'UTC now (the lost answer found in Twilio, not sent again); Tokyo held')
  await first.app.close()

  // Started again three hours later, Tokyo's quiet hours over, on the same database and accounts.
  const later = new TestClock(clock.now() + 3 * 3_600_000)
  const second = await buildTestApp(t, { env, build: { clock: later }, standIns: first })
  // A dispatch and a send that ran before, run again (a lease that ran out while they worked).
  const sentKey = broadcastSendKey(id, members[0]!.id)
  await second.app.store.run(
    enqueueTask(dispatchTask, { id }, { key: 'again-dispatch' }, later.now()),
    enqueueTask(automatedSendTask, { key: sentKey }, { key: 'again-send' }, later.now()),
  )
  await drain(second.app)
  const phones = sentTo(second)
  t.equal(phones.length, 18, 'everyone once')
  t.equal(new Set(phones).size, 18, 'nobody twice')
  const { counts, state } = await api(second, 'GET', `/admin/broadcasts/${id}`)
  t.equal(state, 'done')
  t.match(counts, { sent: 18, pending: 0, skipped: 0 })
})

t.test('an erased person leaves the broadcast: their pending text is never sent', async (t) => {
  const ctx = await buildTestApp(t, { env: ENV })
  const a = ctx.intercom.addContact({ role: 'user', external_id: 'crm-a', phone: '+14155550501' })
  const b = ctx.intercom.addContact({ role: 'user', external_id: 'crm-b', phone: '+14155550502' })
  const { id } = await api(ctx, 'POST', '/admin/broadcasts', {
    audience: { kind: 'segment', id: ctx.intercom.addSegment('two', [a, b]).id },
    template: 'promo',
  })
  await drain(ctx.app)
  const { erasePerson } = await import('../../server/bridge/privacy.js')
  const outcome = await erasePerson(ctx.app.bridge, { contactId: b.id }, Date.now())
  t.match(outcome, { kind: 'erased', broadcastRecipients: 1 })
  await api(ctx, 'POST', `/admin/broadcasts/${id}/confirm`)
  await drain(ctx.app)
  t.same(sentTo(ctx), ['+14155550501'])
  const rows = await ctx.app.store.db.selectFrom('broadcast_recipients').select('intercom_contact_id').execute()
  t.same(
    rows.map((r) => r.intercom_contact_id),
    [a.id],
  )
})
