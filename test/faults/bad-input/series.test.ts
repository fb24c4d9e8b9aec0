// Bad input on the Series webhook: see surface.ts for what every bad request must leave unchanged.
import t from 'tap'
import { buildTestApp } from '../../helper.js'
import fc from 'fast-check'
import { anyJson, badInputSurface, phone, phonesIn, SERIES_SECRET, digits, storedCount } from './surface.js'

t.test('bad input on the Series webhook: a clear 4xx, nothing stored, still serving, nothing sensitive logged', async (t) => {
  const { probe, check, afterwards } = await badInputSurface(t)

  await t.test('Series: a missing or wrong secret: 401; a malformed payload: 400 naming the field', async () => {
    const valid = { contact_id: 'c1', step_id: 'renewal', message: 'Your plan renews tomorrow' }
    const malformed = fc.oneof(
      anyJson.filter(
        (v) => typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as Record<string, unknown>).contact_id !== 'string',
      ),
      fc
        .tuple(
          fc.constantFrom(
            'no-contact',
            'no-step',
            'contact-empty',
            'contact-blank',
            'contact-number',
            'step-long',
            'both',
            'neither',
            'message-empty',
            'message-long',
            'unknown-template',
            'phone-long',
            'phone-number',
          ),
          phone,
        )
        .map(([how, p]) => {
          const b: any = { ...valid, phone: p }
          if (how === 'no-contact') delete b.contact_id
          if (how === 'no-step') delete b.step_id
          if (how === 'contact-empty') b.contact_id = ''
          if (how === 'contact-blank') b.contact_id = '   '
          if (how === 'contact-number') b.contact_id = 12
          if (how === 'step-long') b.step_id = 's'.repeat(101)
          if (how === 'both') b.template = 'renewal'
          if (how === 'neither') delete b.message
          if (how === 'message-empty') b.message = ' '
          if (how === 'message-long') b.message = 'm'.repeat(1601)
          if (how === 'unknown-template') {
            delete b.message
            b.template = 'nope'
          }
          if (how === 'phone-long') b.phone = `${p}${'0'.repeat(33)}`
          if (how === 'phone-number') b.phone = Number(digits(p))
          return b
        }),
    )
    await check(
      'Series requests',
      fc.asyncProperty(
        fc.oneof(
          malformed.map((b) => ({ b, secret: SERIES_SECRET, status: 400 })),
          fc.record({
            b: fc.constant<unknown>(valid),
            secret: fc.option(fc.oneof(fc.string(), fc.constant(SERIES_SECRET.slice(0, -1)), fc.constant(`${SERIES_SECRET} `)), {
              nil: undefined,
            }),
            status: fc.constant(401),
          }),
        ),
        async ({ b, secret, status }) => {
          const raw = JSON.stringify(b)
          const headers: Record<string, string> = {
            'content-type': 'application/json',
            ...(secret === undefined ? {} : { 'x-bridge-secret': secret }),
          }
          await probe({ url: '/intercom/series', headers, payload: raw, phones: phonesIn(raw) }, { status: [status] })
        },
      ),
    )
    // Not JSON, or another content type.
    for (const [contentType, raw] of [
      ['application/json', '{"contact_id":'],
      ['text/plain', JSON.stringify(valid)],
      ['application/x-www-form-urlencoded', 'contact_id=c1&step_id=x&message=hi'],
    ] as const) {
      await probe(
        { url: '/intercom/series', headers: { 'content-type': contentType, 'x-bridge-secret': SERIES_SECRET }, payload: raw },
        { status: [400, 415] },
      )
    }
  })

  await afterwards()
})

t.test('regressions the properties found: Series', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false, env: { SERIES_WEBHOOK_SECRET: SERIES_SECRET } })
  const count = () => storedCount(ctx.app)

  // A Series request with the right secret, as a form: it was queued like the JSON the block posts.
  const series = await ctx.app.inject({
    method: 'POST',
    url: '/intercom/series',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-secret': SERIES_SECRET },
    payload: 'contact_id=c1&step_id=x&message=hi',
  })
  t.equal(series.statusCode, 415, 'a form on /intercom/series: 415')
  t.equal(await count(), 0, 'nothing stored')
})
