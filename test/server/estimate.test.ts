// The counter: segments and price of a text before it is sent, through the real app (POST
// /admin/estimate, estimateText) and the Twilio stand-in's Pricing API.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { estimateText, PRICES_FRESH_MS, PRICES_RETRY_MS, PRICES_WAIT_MS } from '../../server/bridge/estimate.js'
import { messagingCountry } from '../../sandbox/twilio/pricing.js'
import { buildTestApp, type TestApp } from '../helper.js'
import { advanceUntil, TestClock } from '../support/clock.js'
import { tempDir } from '../support/db.js'
import { until } from '../support/wait.js'

const TOKEN = 'admin-token-0123456789abcdef'
const US = '+14155550123'
const UK = '+447700900123'
const HOUR = 60 * 60 * 1000

async function counter(t: Parameters<typeof buildTestApp>[0], opts: { clock?: TestClock; env?: Record<string, string> } = {}) {
  const clock = opts.clock ?? new TestClock(Date.parse('2026-12-07T10:00:00Z'))
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN: TOKEN, ...opts.env }, build: { clock }, startWorker: false })
  return { ctx, clock, estimate: (body: unknown) => estimate(ctx, body) }
}

async function estimate(ctx: TestApp, body: unknown) {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/admin/estimate',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: body as object,
  })
  return { status: res.statusCode, json: res.json() }
}

const pricingCalls = (ctx: TestApp) => ctx.twilio.requests.filter((r) => r.path.startsWith('/v1/Messaging/Countries/'))

t.test('GSM-7 text: characters, segments and the US price for our local number, the number masked', async (t) => {
  const { ctx, clock, estimate } = await counter(t)
  const { status, json } = await estimate({ to: US, text: 'Your order has shipped.', mediaCount: 0 })
  t.equal(status, 200)
  t.same(json, {
    to: '+*******0123',
    characters: 23,
    encoding: 'GSM-7',
    units: 23,
    segments: 1,
    forcedUcs2: [],
    smartEncoded: null,
    kind: 'sms',
    // The stand-in's US carriers charge a local number 0.0079 and 0.0083: the higher one.
    price: { perText: '0.0083', unit: 'USD', country: 'US' },
    priceAsOf: clock.now(),
  })
  const [call] = pricingCalls(ctx)
  t.equal(call?.path, '/v1/Messaging/Countries/US')
  t.equal(call?.status, 200, "the stand-in checked the account's Basic auth and answered")
})

t.test('segment boundaries: 160/161/306/307 in GSM-7, 70/71/134/135 in UCS-2, priced per segment', async (t) => {
  const { estimate } = await counter(t)
  const cases: Array<[string, string, number, string]> = [
    ['160 GSM', 'a'.repeat(160), 1, '0.0083'],
    ['161 GSM', 'a'.repeat(161), 2, '0.0166'],
    ['306 GSM', 'a'.repeat(306), 2, '0.0166'],
    ['307 GSM', 'a'.repeat(307), 3, '0.0249'],
    ['70 UCS-2', `${'a'.repeat(69)}ő`, 1, '0.0083'],
    ['71 UCS-2', `${'a'.repeat(70)}ő`, 2, '0.0166'],
    ['134 UCS-2', `${'a'.repeat(133)}ő`, 2, '0.0166'],
    ['135 UCS-2', `${'a'.repeat(134)}ő`, 3, '0.0249'],
  ]
  for (const [name, text, segments, perText] of cases) {
    const { json } = await estimate({ to: US, text, mediaCount: 0 })
    t.equal(json.segments, segments, `${name}: segments`)
    t.equal(json.price.perText, perText, `${name}: price`)
  }
})

t.test('an emoji makes it UCS-2 (two units), with no replacement to offer', async (t) => {
  const { estimate } = await counter(t)
  const { json } = await estimate({ to: US, text: `${'a'.repeat(68)}👋`, mediaCount: 0 })
  t.match(json, { characters: 69, encoding: 'UCS-2', units: 70, segments: 1, forcedUcs2: ['👋'], smartEncoded: null })
  const over = await estimate({ to: US, text: `${'a'.repeat(69)}👋`, mediaCount: 0 })
  t.match(over.json, { characters: 70, units: 71, segments: 2 })
})

t.test('curly quotes and a dash: UCS-2, every culprit named, and the Smart Encoding text offered', async (t) => {
  const { estimate } = await counter(t)
  const text = `“Thanks” — we’ll call you tomorrow… ${'x'.repeat(60)}`
  const { json } = await estimate({ to: US, text, mediaCount: 0 })
  t.match(json, { encoding: 'UCS-2', forcedUcs2: ['“', '”', '—', '’', '…'], segments: 2 })
  t.equal(json.smartEncoded, `"Thanks" - we'll call you tomorrow... ${'x'.repeat(60)}`)
  const fixed = await estimate({ to: US, text: json.smartEncoded, mediaCount: 0 })
  t.match(fixed.json, { encoding: 'GSM-7', segments: 1, forcedUcs2: [], smartEncoded: null }, 'the replacement is one segment')
})

t.test('extension-table characters count two septets', async (t) => {
  const { estimate } = await counter(t)
  t.match((await estimate({ to: US, text: '€'.repeat(80), mediaCount: 0 })).json, {
    characters: 80,
    units: 160,
    segments: 1,
    encoding: 'GSM-7',
  })
  t.match((await estimate({ to: US, text: `${'€'.repeat(80)}a`, mediaCount: 0 })).json, { characters: 81, units: 161, segments: 2 })
  t.match((await estimate({ to: US, text: '{[|]}', mediaCount: 0 })).json, { characters: 5, units: 10 })
})

t.test('MMS: one message, and no price (the Pricing API gives SMS prices only)', async (t) => {
  const { ctx, estimate } = await counter(t)
  const { json } = await estimate({ to: US, text: 'a'.repeat(400), mediaCount: 2 })
  t.match(json, { kind: 'mms', segments: 1, characters: 400, price: null })
  t.notOk('priceAsOf' in json)
  t.equal(pricingCalls(ctx).length, 0, 'Twilio is not asked')
})

t.test('the destination decides the country; the highest carrier price for our number type', async (t) => {
  const { estimate } = await counter(t)
  const { json } = await estimate({ to: UK, text: 'Hello', mediaCount: 0 })
  t.same(json.price, { perText: '0.0463', unit: 'USD', country: 'GB' }, 'a UK destination is priced as the UK mobile rate')
})

t.test('toll-free and short-code senders are priced as such', async (t) => {
  const { ctx } = await counter(t, { env: { TWILIO_PHONE_NUMBER: '+18005550199' } })
  const tollFree = await estimateText(ctx.app.bridge, { phone: US, body: 'Hi', mediaCount: 0 })
  t.same(tollFree.price, { perText: '0.0081', unit: 'USD', country: 'US' })
  const shortCode = await estimateText(ctx.app.bridge, { phone: US, body: 'Hi', mediaCount: 0, from: '12345' })
  t.same(shortCode.price, { perText: '0.0091', unit: 'USD', country: 'US' })
})

t.test('prices are kept: a second estimate makes no Pricing call; after 24 h they are read again', async (t) => {
  const { ctx, clock, estimate } = await counter(t)
  const first = (await estimate({ to: US, text: 'One', mediaCount: 0 })).json
  await estimate({ to: '+12125550123', text: 'Two', mediaCount: 0 })
  t.equal(pricingCalls(ctx).length, 1, 'one call for two US estimates')

  ctx.twilio.setMessagingPrices('US', messagingCountry('US', 'United States', { Carrier: { local: '0.0100' } }))
  clock.advance(PRICES_FRESH_MS - 1)
  t.equal(
    (await estimate({ to: US, text: 'Three', mediaCount: 0 })).json.price.perText,
    '0.0083',
    'still the kept price a moment before a day',
  )
  t.equal(pricingCalls(ctx).length, 1)
  clock.advance(1)
  const later = (await estimate({ to: US, text: 'Four', mediaCount: 0 })).json
  t.equal(pricingCalls(ctx).length, 2, 'read again after 24 h')
  t.equal(later.price.perText, '0.0100')
  t.equal(later.priceAsOf, first.priceAsOf + PRICES_FRESH_MS)
})

t.test('Twilio answering 500 with nothing kept: price unknown, never an error', async (t) => {
  const { ctx, estimate } = await counter(t)
  ctx.twilio.failNext({ status: 500, match: { path: /^\/v1\/Messaging\// } })
  const { status, json } = await estimate({ to: US, text: 'Hello', mediaCount: 0 })
  t.equal(status, 200)
  t.match(json, { segments: 1, encoding: 'GSM-7', price: null })
  t.notOk('priceAsOf' in json)
  t.equal(pricingCalls(ctx).at(-1)?.status, 500)
})

t.test('a failed refresh keeps the stale price with its age, and rests before trying again', async (t) => {
  const { ctx, clock, estimate } = await counter(t)
  const fetchedAt = clock.now()
  await estimate({ to: US, text: 'Hello', mediaCount: 0 })
  clock.advance(PRICES_FRESH_MS + HOUR)
  ctx.twilio.failNext({ status: 503, times: 2, match: { path: /^\/v1\/Messaging\// } })
  const stale = (await estimate({ to: US, text: 'Hello', mediaCount: 0 })).json
  t.same(stale.price, { perText: '0.0083', unit: 'USD', country: 'US' }, 'the last price Twilio gave')
  t.equal(stale.priceAsOf, fetchedAt, 'with when Twilio gave it (25 h ago)')
  t.equal(pricingCalls(ctx).length, 2)
  clock.advance(PRICES_RETRY_MS - 1)
  await estimate({ to: US, text: 'Hello', mediaCount: 0 })
  t.equal(pricingCalls(ctx).length, 2, 'not asked again while the failure rests')
  clock.advance(1)
  await estimate({ to: US, text: 'Hello', mediaCount: 0 })
  t.equal(pricingCalls(ctx).length, 3, 'asked again after ten minutes (and it failed again)')
  clock.advance(PRICES_RETRY_MS)
  const fresh = (await estimate({ to: US, text: 'Hello', mediaCount: 0 })).json
  t.equal(fresh.priceAsOf, clock.now(), 'Twilio answered: the price is fresh again')
})

t.test('a Pricing API that does not answer: the estimate comes after 3 s on the clock, price unknown', async (t) => {
  const { ctx, clock } = await counter(t)
  ctx.twilio.failNext({ hang: true, match: { path: /^\/v1\/Messaging\// } })
  const start = clock.now()
  let done: Awaited<ReturnType<typeof estimateText>> | undefined
  void estimateText(ctx.app.bridge, { phone: US, body: 'Hello', mediaCount: 0 }).then((e) => (done = e))
  // The deadline is set when the read starts: the clock moves once Twilio has the request, however slow the machine.
  await until(() => pricingCalls(ctx).length > 0, 'the price read to reach Twilio')
  await advanceUntil(clock, () => done !== undefined, 'the estimate', { step: 100, limitMs: 60_000 })
  t.equal(done?.price, null)
  t.equal(done?.segments, 1)
  t.ok(clock.now() - start >= PRICES_WAIT_MS, 'it waited for the deadline, not for an answer')
  t.equal(pricingCalls(ctx).at(-1)?.status, -1, 'Twilio never answered')
})

t.test('a country Twilio has no prices for: unknown, and that answer is kept too', async (t) => {
  const { ctx, estimate } = await counter(t)
  const { json } = await estimate({ to: '+33612345678', text: 'Bonjour', mediaCount: 0 })
  t.equal(json.price, null)
  t.equal(pricingCalls(ctx).at(-1)?.status, 404)
  await estimate({ to: '+33612345678', text: 'Bonjour', mediaCount: 0 })
  t.equal(pricingCalls(ctx).length, 1)
})

t.test('kept prices survive a restart', async (t) => {
  const url = `file:${join(tempDir(t), 'restart.db')}`
  const first = await counter(t, { env: { DATABASE_URL: url } })
  await first.estimate({ to: US, text: 'Hello', mediaCount: 0 })
  await first.ctx.app.close()
  const again = await buildTestApp(t, {
    env: { ADMIN_TOKEN: TOKEN, DATABASE_URL: url },
    build: { clock: first.clock },
    startWorker: false,
    standIns: first.ctx,
  })
  const { json } = await estimate(again, { to: US, text: 'Hello', mediaCount: 0 })
  t.equal(json.price.perText, '0.0083')
  t.equal(pricingCalls(again).length, 1, 'the restarted service did not ask Twilio')
})

t.test('the admin API: a token, and bad input refused with nothing asked', async (t) => {
  const { ctx, estimate } = await counter(t)
  const anonymous = await ctx.app.inject({ method: 'POST', url: '/admin/estimate', payload: { to: US, text: 'x', mediaCount: 0 } })
  t.equal(anonymous.statusCode, 401)
  const bad: Array<[unknown, RegExp]> = [
    [{ to: 'not a number', text: 'x', mediaCount: 0 }, /^to:/],
    [{ to: US, mediaCount: 0 }, /^text:/],
    [{ to: US, text: 'x'.repeat(1601), mediaCount: 0 }, /^text:/],
    [{ to: US, text: 'x', mediaCount: 11 }, /^mediaCount:/],
  ]
  for (const [body, message] of bad) {
    const { status, json } = await estimate(body)
    t.equal(status, 400)
    t.match(json.message ?? json.error?.message, message)
  }
  t.equal(pricingCalls(ctx).length, 0)
})

t.test('the stand-in answers in the shape of the example in Twilio’s reference', async (t) => {
  const fixture: { body: Record<string, any> } = JSON.parse(
    readFileSync(new URL('../fixtures/real/twilio/pricing-messaging-country-twilio-docs.json', import.meta.url), 'utf8'),
  )
  const { ctx } = await counter(t)
  const res = await fetch(`${ctx.twilio.url}/v1/Messaging/Countries/US`, {
    headers: { authorization: `Basic ${Buffer.from(`${ctx.twilio.accountSid}:${ctx.twilio.authToken}`).toString('base64')}` },
  })
  const body = (await res.json()) as typeof fixture.body
  const keys = (o: object) => Object.keys(o).sort()
  t.same(keys(body), keys(fixture.body))
  t.same(keys(body.outbound_sms_prices[0]), keys(fixture.body.outbound_sms_prices[0]))
  t.same(keys(body.outbound_sms_prices[0].prices[0]), keys(fixture.body.outbound_sms_prices[0].prices[0]))
  t.type(body.outbound_sms_prices[0].prices[0].current_price, 'string', 'prices are decimal strings, as in the example')
  const anonymous = await fetch(`${ctx.twilio.url}/v1/Messaging/Countries/US`)
  t.equal(anonymous.status, 401)
})
