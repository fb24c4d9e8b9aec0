import t from 'tap'
import { buildTestApp, drain, inboundForm, postSms, postStatus, type TestApp, type TestAppOptions } from '../helper.js'
import { TestClock } from '../support/clock.js'
import type { Contact } from '../../sandbox/intercom/index.js'
import type { Teardown } from '../support/db.js'

const TOKEN = 'admin-token-0123456789abcdef'
const PROMO = 'Hi {{first_name|there}}, 20% off all week. Reply STOP to opt out.'
const ENV = { ADMIN_TOKEN: TOKEN, SMS_TEMPLATES: JSON.stringify({ promo: PROMO }) }
/** Noon in New York, 02:00 in Tokyo. */
const NOON_NY = Date.parse('2026-12-08T17:00:00Z')

function app(t: Teardown, options: TestAppOptions & { env?: Record<string, string> } = {}) {
  return buildTestApp(t, { ...options, env: { ...ENV, ...options.env } })
}

async function api(ctx: TestApp, method: 'GET' | 'POST', url: string, payload?: unknown) {
  const res = await ctx.app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${TOKEN}` } })
  return { status: res.statusCode, body: res.json<Record<string, any>>() }
}

let crm = 0
/** A user from the team's systems: its phone is the team's data, so the bridge trusts it. */
const user = (ctx: TestApp, phone: string, extra: Partial<Contact> = {}) =>
  ctx.intercom.addContact({ role: 'user', external_id: `crm-${++crm}`, name: 'Ana Lima', phone, ...extra })

const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')

async function optOut(ctx: TestApp, phone: string) {
  await ctx.app.store.transaction((trx) =>
    trx.insertInto('consent').values({ phone, state: 'opted_out', source: 'keyword', changed_at: ctx.app.bridge.clock.now() }).execute(),
  )
}

async function createFor(ctx: TestApp, audience: unknown, extra: Record<string, unknown> = {}) {
  const res = await api(ctx, 'POST', '/admin/broadcasts', { audience, template: 'promo', ...extra })
  if (res.status !== 201) throw new Error(JSON.stringify(res.body))
  await drain(ctx.app)
  return res.body.id as number
}

t.test('the preview counts only who may get it, masks numbers, and nothing goes before confirming', async (t) => {
  const ctx = await app(t)
  const members = [
    user(ctx, '+14155550101'),
    user(ctx, '+14155550102', { name: 'Bo' }),
    user(ctx, '+14155550103'), // opted out
    ctx.intercom.addContact({ role: 'lead', phone: '+14155550104', name: 'Visitor' }), // a lead's own claim
    user(ctx, '+447911123456'), // a country not allowed
    ctx.intercom.addContact({ role: 'user', external_id: 'crm-nophone', email: 'x@example.com' }),
    user(ctx, '+14155550101'), // the same number again: one text
  ]
  await optOut(ctx, '+14155550103')
  const segment = ctx.intercom.addSegment('VIP customers', members)
  const id = await createFor(ctx, { kind: 'segment', id: segment.id })

  const { body: preview } = await api(ctx, 'GET', `/admin/broadcasts/${id}/preview`)
  t.equal(preview.broadcast.state, 'ready')
  t.equal(preview.counts.pending, 2)
  t.same(preview.counts.excluded, { opted_out: 1, untrusted: 1, country_not_allowed: 1, no_number: 1, duplicate_number: 1 })
  t.equal(preview.segments, 2)
  t.same(preview.encodings, [{ encoding: 'GSM-7', texts: 2, segments: 2 }])
  t.same(preview.cost, { amount: 0.0166, unit: 'USD', unpriced: 0 }, "two texts at Twilio's US price (0.0083 USD each, the Pricing API)")
  t.same(
    preview.samples.map((s: { body: string }) => s.body).sort(),
    ['Hi Ana, 20% off all week. Reply STOP to opt out.', 'Hi Bo, 20% off all week. Reply STOP to opt out.'],
    'the first rendered texts (in no promised order)',
  )
  t.notMatch(JSON.stringify(preview.samples), /4155550101|4155550102/, 'numbers masked')
  t.equal(sent(ctx).length, 0, 'nothing sent before confirming')

  t.equal((await api(ctx, 'POST', `/admin/broadcasts/${id}/confirm`)).status, 200)
  await drain(ctx.app)
  t.same(
    sent(ctx)
      .map((m) => m.to)
      .sort(),
    ['+14155550101', '+14155550102'],
  )
  t.equal((await api(ctx, 'POST', `/admin/broadcasts/${id}/confirm`)).status, 409, 'a second confirm is refused')
  const { body: status } = await api(ctx, 'GET', `/admin/broadcasts/${id}`)
  t.match(status, { state: 'done', counts: { sent: 2, pending: 0, released: 2 } })
  // The search went as the 2.16 description has it: segment_id, =, a page at a time.
  const searches = ctx.intercom.requests.filter((r) => r.path === '/contacts/search')
  t.same(searches.at(-1)?.body, { query: { field: 'segment_id', operator: '=', value: segment.id }, pagination: { per_page: 100 } })
})

t.test('the admin API needs the token and refuses bad input without writing anything', async (t) => {
  const ctx = await app(t)
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/admin/broadcasts',
    payload: { audience: { kind: 'tag', id: '1' }, template: 'promo' },
  })
  t.equal(res.statusCode, 401)
  t.equal((await api(ctx, 'POST', '/admin/broadcasts', { audience: { kind: 'tag', id: '1' }, template: 'nope' })).status, 400)
  t.equal((await api(ctx, 'POST', '/admin/broadcasts', { audience: { kind: 'tag', id: '../x' }, template: 'promo' })).status, 400)
  t.equal((await api(ctx, 'GET', '/admin/broadcasts/99/preview')).status, 404)
  t.equal((await ctx.app.store.db.selectFrom('broadcasts').selectAll().execute()).length, 0)
})

t.test('a tag or a file names the audience; a file number goes only to the contact it is linked to', async (t) => {
  const ctx = await app(t)
  const tagged = user(ctx, '+14155550201')
  const tag = ctx.intercom.tagContacts('renewals', [tagged])
  const byTag = await createFor(ctx, { kind: 'tag', id: tag.id })
  t.equal((await api(ctx, 'GET', `/admin/broadcasts/${byTag}/preview`)).body.counts.pending, 1)

  // A customer who texted us: the bridge linked the number to its own lead.
  await postSms(ctx, inboundForm(ctx, { From: '+14155550202', Body: 'hello' }))
  await drain(ctx.app)
  const linked = ctx.intercom.contacts.find((c) => c.phone === '+14155550202')!
  const byFile = await createFor(ctx, { kind: 'file', entries: ['+14155550202', tagged.id, '+14155550299'] })
  const { body } = await api(ctx, 'GET', `/admin/broadcasts/${byFile}/preview`)
  t.equal(body.counts.pending, 2)
  t.equal(body.broadcast.unmatched, 1, 'a number nobody is linked to is counted, not texted')
  t.ok(linked)
})

t.test('quiet hours in the recipient’s own zone: held, then sent; pause and resume midway; cancel stops the rest', async (t) => {
  const clock = new TestClock(NOON_NY)
  const ctx = await app(t, {
    build: { clock },
    env: { QUIET_HOURS: '21:00-08:00', QUIET_HOURS_TIMEZONE: 'America/New_York', SMS_ALLOWED_COUNTRIES: 'US' },
  })
  const ny = user(ctx, '+14155550301')
  const tokyo = user(ctx, '+14155550302', { location: { type: 'location', country: 'Japan', region: null, city: null } })
  const segment = ctx.intercom.addSegment('two zones', [ny, tokyo])
  const id = await createFor(ctx, { kind: 'segment', id: segment.id })
  t.equal((await api(ctx, 'GET', `/admin/broadcasts/${id}/preview`)).body.later, 1, 'the preview says one goes later')

  await api(ctx, 'POST', `/admin/broadcasts/${id}/confirm`)
  await drain(ctx.app)
  t.same(
    sent(ctx).map((m) => m.to),
    ['+14155550301'],
    'New York now; Tokyo is asleep',
  )
  t.equal((await api(ctx, 'POST', `/admin/broadcasts/${id}/pause`)).status, 200)
  clock.set(Date.parse('2026-12-08T23:01:00Z')) // 08:01 in Tokyo
  await drain(ctx.app)
  t.equal(sent(ctx).length, 1, 'paused: nothing more goes')
  t.match((await api(ctx, 'GET', `/admin/broadcasts/${id}`)).body, { state: 'paused', counts: { sent: 1, pending: 1 } })
  await api(ctx, 'POST', `/admin/broadcasts/${id}/resume`)
  await drain(ctx.app)
  t.same(
    sent(ctx).map((m) => m.to),
    ['+14155550301', '+14155550302'],
    'resumed: Tokyo at 08:01 their time',
  )

  const later = await createFor(ctx, { kind: 'segment', id: ctx.intercom.addSegment('again', [ny, tokyo]).id })
  clock.set(Date.parse('2026-12-09T17:00:00Z'))
  await api(ctx, 'POST', `/admin/broadcasts/${later}/confirm`)
  await drain(ctx.app)
  t.equal((await api(ctx, 'POST', `/admin/broadcasts/${later}/cancel`)).status, 200)
  clock.set(Date.parse('2026-12-09T23:30:00Z'))
  await drain(ctx.app)
  t.equal(sent(ctx).length, 3, 'cancelled: the held recipient never gets it')
  t.equal((await api(ctx, 'POST', `/admin/broadcasts/${later}/resume`)).status, 409)
})

t.test('the broadcast lands in the SMS conversation and the reply threads there; the report counts by error code', async (t) => {
  const ctx = await app(t)
  // Three customers who texted us before: each has an SMS conversation.
  const phones = ['+14155550401', '+14155550402', '+14155550403']
  for (const From of phones) await postSms(ctx, inboundForm(ctx, { From, Body: 'hi' }))
  await drain(ctx.app)
  const contacts = phones.map((p) => ctx.intercom.contacts.find((c) => c.phone === p)!)
  const id = await createFor(ctx, { kind: 'segment', id: ctx.intercom.addSegment('texted us', contacts).id })
  await api(ctx, 'POST', `/admin/broadcasts/${id}/confirm`)
  await drain(ctx.app)
  t.equal(sent(ctx).length, 3)

  const conversation = ctx.intercom.conversations.find((c) => c.contacts[0]!.id === contacts[0]!.id)!
  t.match(conversation.parts.at(-1)?.body, /Broadcast text sent by SMS.*20% off/s, 'the team sees the text where the customer wrote')
  await postSms(ctx, inboundForm(ctx, { From: phones[0]!, Body: 'Is it on shoes too?' }))
  await drain(ctx.app)
  t.match(conversation.parts.at(-1)?.body, /Is it on shoes too\?/, 'the reply threads into the same conversation')
  t.equal(ctx.intercom.conversations.filter((c) => c.contacts[0]!.id === contacts[0]!.id).length, 1)

  const sid = (to: string) => sent(ctx).find((m) => m.to === to)!.sid
  await postStatus(ctx, { MessageSid: sid(phones[0]!), MessageStatus: 'delivered' })
  await postStatus(ctx, { MessageSid: sid(phones[1]!), MessageStatus: 'undelivered', ErrorCode: '30007' })
  await postStatus(ctx, { MessageSid: sid(phones[2]!), MessageStatus: 'delivered' })
  await postSms(ctx, inboundForm(ctx, { From: phones[2]!, Body: 'STOP' }))
  await drain(ctx.app)
  const { body: report } = await api(ctx, 'GET', `/admin/broadcasts/${id}/report`)
  t.equal(report.counts.sent, 3)
  t.equal(report.delivered, 2)
  t.same(report.failed, [{ code: 30007, count: 1, meaning: 'The carrier filtered the text as spam. Rephrase it or register your sender.' }])
  t.equal(report.optedOutAfter, 1)
})

t.test('a segment of a few thousand contacts is read a page at a time', async (t) => {
  const ctx = await app(t)
  const members = Array.from({ length: 2_000 }, (_, i) => user(ctx, `+1415556${String(i).padStart(4, '0')}`))
  const segment = ctx.intercom.addSegment('everyone', members)
  const before = ctx.intercom.requests.length
  const id = await createFor(ctx, { kind: 'segment', id: segment.id })
  const searches = ctx.intercom.requests.slice(before).filter((r) => r.path === '/contacts/search')
  t.equal(searches.length, 20, 'twenty pages of 100')
  t.same(
    searches.map((r) => Boolean((r.body as { pagination: { starting_after?: string } }).pagination.starting_after)),
    [false, ...Array(19).fill(true)],
    'each page asks after the one before',
  )
  const b = await ctx.app.store.db.selectFrom('broadcasts').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
  t.match(b, { state: 'ready', pages: 20, cursor: null })
  t.equal((await api(ctx, 'GET', `/admin/broadcasts/${id}/preview`)).body.counts.pending, 2_000)
})

t.test('GET /segments and GET /tags answer as the 2.16 description shows', async (t) => {
  const ctx = await app(t)
  const { readFileSync } = await import('node:fs')
  const fixture = (name: string) =>
    JSON.parse(readFileSync(new URL(`../fixtures/real/intercom/api-2.16-lists/${name}.json`, import.meta.url), 'utf8')) as {
      payload: unknown
    }
  const audiences = await ctx.app.bridge.intercom.audiences()
  const segments = (fixture('segments').payload as { segments: Array<{ id: string; name: string }> }).segments
  t.same(
    audiences.segments,
    segments.map((s) => ({ id: s.id, name: s.name })),
    'the example segments, read through the adapter',
  )
  const search = fixture('search-by-segment-request').payload as { query: { value: string } }
  await ctx.app.bridge.intercom.audiencePage({ field: 'segment_id', id: search.query.value }, null)
  t.same(ctx.intercom.requests.at(-1)?.body, search, 'the search the fixture records')
  t.equal(ctx.intercom.requests.at(-1)?.status, 200)
})
