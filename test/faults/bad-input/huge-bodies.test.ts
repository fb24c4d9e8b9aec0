// Bad input on every surface, with huge bodies: see surface.ts for what every bad request must leave unchanged.
import t from 'tap'
import fc from 'fast-check'
import { parse as parseForm } from 'fast-querystring'
import { signCanvas, signIntercomWebhook } from '../../../sandbox/intercom/index.js'
import { inboundForm, PUBLIC_URL } from '../../helper.js'
import { badInputSurface, CANVAS_PATHS, SERIES_SECRET, type Probe } from './surface.js'

t.test('bad input on every surface, with huge bodies: a clear 4xx, nothing stored, still serving, nothing sensitive logged', async (t) => {
  const { ctx, probe, check, twilioSign, formHeaders, notification, intercomHeaders, afterwards } = await badInputSurface(t)

  await t.test('huge bodies on every surface: 413', async (t) => {
    const big = (bytes: number) => 'x'.repeat(bytes)
    const form = inboundForm(ctx)
    const hugeForm = `${new URLSearchParams(form).toString()}&Body=${big(300 * 1024)}`
    const hugeJson = (bytes: number) => JSON.stringify({ ...notification('conversation.admin.replied', { id: '1' }), padding: big(bytes) })
    const cases: Array<[string, Probe]> = [
      [
        '/twilio/sms, 300 KB form',
        { url: '/twilio/sms', headers: formHeaders(twilioSign(`${PUBLIC_URL}/twilio/sms`, parseForm(hugeForm))), payload: hugeForm },
      ],
      ['/twilio/status, 300 KB form', { url: '/twilio/status', headers: formHeaders('sig'), payload: hugeForm }],
      [
        '/intercom/webhooks, 1.1 MB',
        {
          url: '/intercom/webhooks',
          headers: intercomHeaders(signIntercomWebhook(ctx.intercom.clientSecret, hugeJson(1_100_000))),
          payload: hugeJson(1_100_000),
        },
      ],
      ...CANVAS_PATHS.map((path): [string, Probe] => [
        `${path}, 300 KB`,
        {
          url: path,
          headers: { 'content-type': 'application/json', 'x-body-signature': signCanvas(ctx.intercom.clientSecret, hugeJson(300 * 1024)) },
          payload: hugeJson(300 * 1024),
        },
      ]),
      [
        '/intercom/series, 300 KB',
        {
          url: '/intercom/series',
          headers: { 'content-type': 'application/json', 'x-bridge-secret': SERIES_SECRET },
          payload: hugeJson(300 * 1024),
        },
      ],
    ]
    for (const [name, req] of cases) {
      await probe(req, { status: [413] })
      t.pass(`${name}: 413`)
    }
    // Many fields, signed or not, small or not: refused before parsing, whatever they are called.
    await check(
      'Twilio forms with more fields than Twilio sends',
      fc.asyncProperty(
        fc.integer({ min: 151, max: 5_000 }),
        fc.constantFrom('/twilio/sms', '/twilio/status'),
        fc.boolean(),
        async (fields, url, signed) => {
          const extra = Object.fromEntries(Array.from({ length: fields }, (_, i) => [`X${i}`, String(i)]))
          const many = { ...form, ...extra }
          await probe(
            {
              url,
              headers: formHeaders(signed ? twilioSign(`${PUBLIC_URL}${url}`, many) : 'sig'),
              payload: new URLSearchParams(many).toString(),
            },
            { status: [413] },
          )
        },
      ),
      20,
    )
    // Under the Twilio routes' 32 KB limit but far over what a text may be: the field is named.
    const long = { ...form, Body: big(20 * 1024) }
    const raw = new URLSearchParams(long).toString()
    await probe({ url: '/twilio/sms', headers: formHeaders(twilioSign(`${PUBLIC_URL}/twilio/sms`, long)), payload: raw }, { status: [400] })
    t.pass('a 20 KB Body under the body limit: 400')
  })

  await afterwards()
})
