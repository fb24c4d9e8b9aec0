// Issue 28 point 2: send later, in the customer's time, through the real app, the stand-ins and a
// clock the test moves.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { canvasResponse, type CanvasResponse, type Component } from '../../canvas/schema.js'
import { applyStagedRestore, stageRestore } from '../../shared/db/backup.js'
import { formatLocal } from '../../shared/send-later.js'
import { tempDir } from '../support/db.js'
import { TestClock } from '../support/clock.js'
import { buildTestApp, drain, inboundForm, postCanvas, postSms, RECURRING_TASKS, type TestApp } from '../helper.js'

const CUSTOMER = '+14155550123'
const DUBLIN = 'Europe/Dublin'
/** Monday 7 December 2026, 12:00 in Dublin (UTC in winter). */
const MONDAY_NOON = Date.parse('2026-12-07T12:00:00Z')

function request(ctx: TestApp, who: { contact: string; conversation: string }, extra: Record<string, unknown> = {}) {
  return {
    workspace_id: 'abc123xy',
    workspace_region: 'us',
    admin: { type: 'admin', id: ctx.intercom.admin.id, name: 'Sam Agent', email: 'sam@example.com' },
    conversation: { type: 'conversation', id: who.conversation, state: 'open' },
    contact: { type: 'contact', id: who.contact, role: 'user' },
    context: { conversation_id: Number(who.conversation), location: 'inbox', locale: 'en' },
    ...extra,
  }
}

const last = new WeakMap<TestApp, unknown>()

/** Posts as Intercom does (with the canvas last shown, so its nonce) and checks the answer is a valid canvas. */
async function post(t: Test, ctx: TestApp, path: string, body: Record<string, unknown>): Promise<CanvasResponse> {
  const res = await postCanvas(ctx, path, body.component_id ? { ...body, current_canvas: last.get(ctx) ?? null } : body)
  const parsed = canvasResponse.safeParse(res.json())
  t.ok(parsed.success, `${path} answers a valid canvas${parsed.success ? '' : `: ${JSON.stringify(parsed.error.issues)}`}`)
  last.set(ctx, res.json().canvas)
  return res.json()
}

const byId = (c: CanvasResponse, id: string) =>
  c.canvas.content.components.find((x) => 'id' in x && x.id === id) as (Component & Record<string, any>) | undefined

/** A customer in Dublin who texted us: their contact (located by Intercom) and SMS conversation. */
async function dubliner(t: Test, env: Record<string, string> = {}, clock = new TestClock(MONDAY_NOON), dbFile?: string) {
  const ctx = await buildTestApp(t, { env: { ...env, ...(dbFile ? { DATABASE_URL: `file:${dbFile}` } : {}) }, build: { clock } })
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Hi, where is my parcel?' }))
  await drain(ctx.app)
  const contact = ctx.intercom.contacts[0]!
  contact.location = { type: 'location', country: 'Ireland', region: 'Dublin', city: 'Dublin' }
  const who = { contact: contact.id, conversation: ctx.intercom.conversations[0]!.id }
  await post(t, ctx, '/canvas/inbox/initialize', request(ctx, who))
  clock.advance(60_000) // the customer's text came before anything is scheduled
  return { ctx, who, clock }
}

/** Clicks a button of the panel or screen, with what was typed. */
function click(t: Test, ctx: TestApp, who: { contact: string; conversation: string }, id: string, values: Record<string, unknown> = {}) {
  return post(t, ctx, '/canvas/inbox/submit', request(ctx, who, { component_id: id, input_values: values }))
}

/** Runs what is due, then moves the clock a minute, five times: retries (backoff on the app's clock) run too. */
async function settle(app: TestApp['app'], clock: TestClock) {
  for (let i = 0; i < 5; i++) {
    await app.worker.runUntilIdle({ withinMs: 0, except: RECURRING_TASKS })
    clock.advance(60_000)
  }
}

const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
const notes = (ctx: TestApp, conversation: string) =>
  ctx.intercom
    .conversation(conversation)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body)
const rows = (ctx: TestApp) => ctx.app.store.db.selectFrom('scheduled_texts').selectAll().orderBy('id').execute()

t.test("Send later opens the three choices, on the customer's clock, with the draft", async (t) => {
  const { ctx, who } = await dubliner(t)
  const screen = await click(t, ctx, who, 'send_later', { sms_body: 'Your parcel is ready' })
  t.equal(byId(screen, 'sms_body')?.value, 'Your parcel is ready', 'the draft comes along')
  t.equal(byId(screen, 'schedule_tomorrow')?.label, 'Tomorrow 09:00 their time')
  // The stand-in's office hours are the 2.16 description's example: Monday and Tuesday from 9:00.
  t.equal(byId(screen, 'schedule_business_morning')?.label, 'Next business morning: 2026-12-08 09:00')
  t.match(byId(screen, 'send_at_input')?.label, 'Europe/Dublin')
  t.ok(byId(screen, 'schedule_chosen') && byId(screen, 'refresh'), 'a chosen time, and back')
  t.ok(
    ctx.intercom.requests.some((r) => r.path === '/office_hours_schedules'),
    'office hours read from Intercom',
  )
})

t.test('scheduled three ways: listed with who and when (their time and UTC), noted, cancelled', async (t) => {
  const { ctx, who } = await dubliner(t)
  await click(t, ctx, who, 'schedule_tomorrow', { sms_body: 'Tomorrow text' })
  await click(t, ctx, who, 'schedule_business_morning', { sms_body: 'Business text' })
  const bad = await click(t, ctx, who, 'schedule_chosen', { sms_body: 'Chosen text', send_at_input: '2026-12-07 11:00' })
  t.match(byId(bad, 'schedule_error')?.text, 'has passed', 'a past time: the screen again, with the reason')
  t.equal(byId(bad, 'sms_body')?.value, 'Chosen text', 'the draft kept')
  const far = await click(t, ctx, who, 'schedule_chosen', { sms_body: 'Chosen text', send_at_input: '2027-02-01 10:00' })
  t.match(byId(far, 'schedule_error')?.text, '35 days')
  const panel = await click(t, ctx, who, 'schedule_chosen', { sms_body: 'Chosen text', send_at_input: '2026-12-24 10:30' })
  t.match(byId(panel, 'notice')?.text, 'Scheduled for 2026-12-24 10:30 Europe/Dublin (2026-12-24 10:30 UTC)')

  const scheduled = await rows(ctx)
  t.same(
    scheduled.map((r) => [r.body, r.choice, r.time_zone, new Date(r.send_at).toISOString(), r.admin_name, r.state]),
    [
      ['Tomorrow text', 'tomorrow', DUBLIN, '2026-12-08T09:00:00.000Z', 'Sam Agent', 'scheduled'],
      ['Business text', 'business_morning', DUBLIN, '2026-12-08T09:00:00.000Z', 'Sam Agent', 'scheduled'],
      ['Chosen text', 'chosen', DUBLIN, '2026-12-24T10:30:00.000Z', 'Sam Agent', 'scheduled'],
    ],
  )
  const options = byId(panel, 'scheduled_pick')?.option as Array<{ id: string; text: string }>
  t.equal(options.length, 3, 'the panel lists them')
  t.match(options[2]!.text, '2026-12-24 10:30 Europe/Dublin (2026-12-24 10:30 UTC) · by Sam Agent: Chosen text')
  t.ok(byId(panel, 'cancel_scheduled'), 'with Cancel')
  t.notOk(byId(panel, 'send_scheduled_anyway'), 'Send anyway only for a held text')

  await drain(ctx.app)
  t.equal(sent(ctx).length, 0, 'nothing sent yet')
  t.equal(notes(ctx, who.conversation).filter((n) => /Sam Agent scheduled a text/.test(n ?? '')).length, 3, 'a note for each')

  const after = await click(t, ctx, who, 'cancel_scheduled', { scheduled_pick: [`st-${scheduled[2]!.id}`, 'st-999999'] })
  t.match(byId(after, 'notice')?.text, 'Cancelled 1 scheduled text.', "only this contact's open texts count")
  t.equal((byId(after, 'scheduled_pick')?.option as unknown[]).length, 2)
  await drain(ctx.app)
  t.match(notes(ctx, who.conversation).at(-1), /Scheduled text cancelled/)
  t.equal((await rows(ctx))[2]!.state, 'cancelled')
})

t.test('sends once at its time, through the sidebar send path', async (t) => {
  const { ctx, who, clock } = await dubliner(t)
  await click(t, ctx, who, 'schedule_tomorrow', { sms_body: 'Good morning from the shop' })
  await drain(ctx.app)
  clock.set(Date.parse('2026-12-08T08:55:00Z'))
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0, 'not early')
  clock.set(Date.parse('2026-12-08T09:00:00Z'))
  await drain(ctx.app)
  t.match(sent(ctx), [{ to: CUSTOMER, body: 'Good morning from the shop' }])
  t.equal(sent(ctx).length, 1)
  const [row] = await rows(ctx)
  t.equal(row!.state, 'sent')
  const message = await ctx.app.store.db.selectFrom('messages').selectAll().where('id', '=', row!.message_id!).executeTakeFirstOrThrow()
  t.equal(message.twilio_sid, sent(ctx)[0]!.sid, 'the text is recorded against its SID')
  t.match(notes(ctx, who.conversation).at(-1), /Sent by SMS from the sidebar by Sam Agent/)
  clock.advance(86_400_000)
  await drain(ctx.app)
  t.equal(sent(ctx).length, 1, 'and never again')
})

t.test('the customer writes first: held, the team asked; Send anyway sends it', async (t) => {
  const { ctx, who, clock } = await dubliner(t)
  await click(t, ctx, who, 'schedule_tomorrow', { sms_body: 'Your parcel is ready' })
  clock.advance(3_600_000)
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Actually I picked it up already' }))
  await drain(ctx.app)
  t.equal((await rows(ctx))[0]!.state, 'held')
  t.match(notes(ctx, who.conversation).at(-1), /The customer wrote before a scheduled text went/)
  clock.set(Date.parse('2026-12-08T09:00:00Z'))
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0, 'a held text does not go at its time')

  const panel = await post(t, ctx, '/canvas/inbox/initialize', request(ctx, who))
  const [option] = byId(panel, 'scheduled_pick')?.option as Array<{ id: string; text: string }>
  t.match(option!.text, /^HELD \(they wrote first\)/)
  t.ok(byId(panel, 'send_scheduled_anyway'), 'Send anyway offered')
  const after = await click(t, ctx, who, 'send_scheduled_anyway', { scheduled_pick: [option!.id] })
  t.match(byId(after, 'notice')?.text, '1 scheduled text will be sent anyway.')
  await drain(ctx.app)
  t.match(sent(ctx), [{ body: 'Your parcel is ready' }])
  t.equal(sent(ctx).length, 1)
})

t.test('skipped after STOP, with the reason in a note', async (t) => {
  const { ctx, who, clock } = await dubliner(t)
  await click(t, ctx, who, 'schedule_tomorrow', { sms_body: 'A text they no longer want' })
  await drain(ctx.app)
  // STOP holds it too (they wrote): a teammate who sends it anyway meets the opt-out at send time.
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'STOP' }))
  await drain(ctx.app)
  await ctx.app.store.run(
    (await import('../../shared/db/scheduled.js')).moveScheduledText(
      (await rows(ctx))[0]!.id,
      ['held'],
      { state: 'scheduled' },
      clock.now(),
    ),
  )
  clock.set(Date.parse('2026-12-08T09:00:00Z'))
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0)
  t.match(await rows(ctx), [{ state: 'skipped', reason: 'opted_out' }])
  t.match(notes(ctx, who.conversation).at(-1), /Scheduled text not sent<\/b> \(the customer opted out of texts\)/)
})

t.test("quiet hours: a text due in the customer's night waits until they end", async (t) => {
  const { ctx, who, clock } = await dubliner(t, { QUIET_HOURS: '21:00-08:00' })
  await click(t, ctx, who, 'schedule_chosen', { sms_body: 'Late news', send_at_input: '2026-12-07 22:00' })
  clock.set(Date.parse('2026-12-07T22:00:00Z'))
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0, 'not at 22:00 their time')
  t.equal((await rows(ctx))[0]!.state, 'scheduled')
  clock.set(Date.parse('2026-12-08T08:00:00Z'))
  await drain(ctx.app)
  t.match(sent(ctx), [{ body: 'Late news' }], 'at 08:00 their time')
})

t.test('Twilio took the text but the answer was lost (a crash mid-send), then a restart: sent once', async (t) => {
  // Twilio's log is dated by the real clock: the app's runs behind it, so the text is in the log by its time.
  const clock = new TestClock(Date.now() - 20 * 60_000)
  const dbFile = join(tempDir(t), 'bridge.db')
  const { ctx, who } = await dubliner(t, {}, clock, dbFile)
  const due = clock.now() + 10 * 60_000
  await click(t, ctx, who, 'schedule_chosen', { sms_body: 'Exactly once', send_at_input: formatLocal(due, DUBLIN) })
  await drain(ctx.app)
  ctx.twilio.failNext({ status: 500, afterAccept: true, match: { method: 'POST', path: /Messages\.json$/ } })
  clock.set(due - (due % 60_000))
  // Due jobs only: the retry (backoff on the app's clock) is left for after the restart.
  await ctx.app.worker.runUntilIdle({ withinMs: 0, except: RECURRING_TASKS })
  t.equal(sent(ctx).length, 1, 'Twilio has it')
  await ctx.app.close()
  const again = await buildTestApp(t, { env: { DATABASE_URL: `file:${dbFile}` }, build: { clock }, standIns: ctx })
  await settle(again.app, clock)
  t.equal(sent(again).length, 1, 'the retry after the restart found it in Twilio and did not send again')
  t.equal((await rows(again))[0]!.state, 'sent')
})

t.test('a restore of a backup from before the send does not send it twice', async (t) => {
  // Twilio's log is dated by the real clock: the app's starts 20 minutes behind it.
  const clock = new TestClock(Date.now() - 20 * 60_000)
  const dbFile = join(tempDir(t), 'bridge.db')
  const { ctx, who } = await dubliner(t, {}, clock, dbFile)
  const due = clock.now() + 10 * 60_000
  await click(t, ctx, who, 'schedule_chosen', { sms_body: 'Restored, not resent', send_at_input: formatLocal(due, DUBLIN) })
  await drain(ctx.app)
  const backup = join(tempDir(t), 'before-send.db')
  await ctx.app.store.backup(backup)
  clock.set(due - (due % 60_000))
  await drain(ctx.app)
  t.equal(sent(ctx).length, 1, 'sent at its time')
  await ctx.app.close()

  await stageRestore(dbFile, backup)
  t.ok(applyStagedRestore(dbFile), 'the older backup is in place')
  clock.set(Date.now())
  const restored = await buildTestApp(t, { env: { DATABASE_URL: `file:${dbFile}` }, build: { clock }, standIns: ctx })
  t.equal((await rows(restored))[0]!.state, 'scheduled', 'the restored database thinks it still waits')
  await settle(restored.app, clock)
  t.equal(sent(restored).length, 1, "sendMessage looked in Twilio's log first and found it")
  t.equal((await rows(restored))[0]!.state, 'sent')
})

t.test('erasing the person erases their scheduled texts', async (t) => {
  const { ctx, who } = await dubliner(t)
  await click(t, ctx, who, 'schedule_tomorrow', { sms_body: 'Private words' })
  const { erasePerson } = await import('../../server/bridge/privacy.js')
  await erasePerson(ctx.app.bridge, { phone: CUSTOMER }, ctx.app.bridge.clock.now())
  t.same(await rows(ctx), [])
})
