// Bad input on Twilio's /twilio/sms and /twilio/status: see surface.ts for what every bad request must leave unchanged.
import t from 'tap'
import twilio from 'twilio'
import fc from 'fast-check'
import { parse as parseForm } from 'fast-querystring'
import { inboundForm, PUBLIC_URL, buildTestApp } from '../../helper.js'
import {
  badInputSurface,
  badSignature,
  nasty,
  phone,
  randomPairs,
  rawFormBody,
  type SignatureMode,
  digits,
  SERIES_SECRET,
  storedCount,
} from './surface.js'

t.test(
  "bad input on Twilio's /twilio/sms and /twilio/status: a clear 4xx, nothing stored, still serving, nothing sensitive logged",
  async (t) => {
    const { ctx, probe, check, twilioSign, signatureFor, formHeaders, encodePairs, afterwards } = await badInputSurface(t)

    await t.test('Twilio: random forms, unsigned or wrongly signed, with or without a query: 403', async () => {
      await check(
        'random Twilio forms with bad signatures',
        fc.asyncProperty(
          fc.constantFrom('/twilio/sms', '/twilio/status'),
          randomPairs,
          badSignature,
          fc.option(phone, { nil: null }),
          fc.boolean(),
          async (path, pairs, mode, queryPhone, realShaped) => {
            const all: Array<[string, string]> = realShaped ? [...Object.entries(inboundForm(ctx)), ...pairs] : pairs
            const raw = encodePairs(all)
            const url = queryPhone ? `${path}?From=${encodeURIComponent(queryPhone)}` : path
            const signature = signatureFor(mode, url, parseForm(raw))
            await probe(
              {
                url,
                headers: formHeaders(signature),
                payload: raw,
                phones: [...all.map(([, v]) => v), ...(queryPhone ? [queryPhone] : [])].filter((v) => digits(v).length >= 10),
              },
              { status: [403] },
            )
          },
        ),
      )
    })

    await t.test('Twilio: malformed bodies (broken encoding, stray separators, invalid UTF-8, raw bytes): 4xx', async () => {
      await check(
        'malformed Twilio bodies',
        fc.asyncProperty(
          fc.constantFrom('/twilio/sms', '/twilio/status'),
          rawFormBody,
          fc.constantFrom<SignatureMode>('none', 'garbage', 'other-token'),
          async (path, raw, mode) => {
            const signature = signatureFor(mode, path, parseForm(raw.toString()))
            await probe({ url: path, headers: formHeaders(signature), payload: raw }, { status: [400, 403] })
          },
        ),
      )
    })

    await t.test('Twilio: correctly signed but malformed forms: 400 naming the field (403 for another account)', async () => {
      const smsMutations = fc.constantFrom(
        ['drop', 'MessageSid'],
        ['drop', 'AccountSid'],
        ['drop', 'From'],
        ['drop', 'To'],
        ['set', 'MessageSid', 'SM123'],
        ['set', 'MessageSid', `XX${'a'.repeat(32)}`],
        ['set', 'MessageSid', `SM${'g'.repeat(32)}`],
        ['set', 'From', ''],
        ['set', 'From', '1'.repeat(65)],
        ['set', 'To', ''],
        ['set', 'Body', 'x'.repeat(1601)],
        ['set', 'NumMedia', 'x'],
        ['set', 'NumMedia', '-1'],
        ['set', 'NumMedia', '11'],
        ['set', 'NumMedia', '2.5'],
        ['set', 'NumSegments', 'abc'],
        ['set', 'NumSegments', '-2'],
        ['set', 'AccountSid', `AC${'f'.repeat(32)}`],
        ['repeat', 'MessageSid'],
        ['repeat', 'From'],
        ['repeat', 'Body'],
      )
      const statusMutations = fc.constantFrom(
        ['drop', 'MessageSid'],
        ['drop', 'MessageStatus'],
        ['drop', 'AccountSid'],
        ['set', 'MessageSid', 'SM'],
        ['set', 'MessageStatus', ''],
        ['set', 'MessageStatus', 'd'.repeat(33)],
        ['set', 'ErrorCode', 'abc'],
        ['set', 'ErrorCode', '1.5'],
        ['set', 'AccountSid', 'AC0'],
        ['repeat', 'MessageStatus'],
        ['repeat', 'MessageSid'],
      )
      await check(
        'signed, malformed Twilio forms',
        fc.asyncProperty(
          fc.constantFrom('/twilio/sms', '/twilio/status'),
          fc.array(fc.tuple(smsMutations, statusMutations), { minLength: 1, maxLength: 3 }),
          fc.array(
            fc.tuple(
              fc.string({ minLength: 1, maxLength: 10 }).map((k) => `X-${k}`),
              nasty,
            ),
            { maxLength: 4 },
          ),
          phone,
          async (path, mutations, extras, from) => {
            const base: Record<string, string> =
              path === '/twilio/sms'
                ? inboundForm(ctx, { From: from, Body: `call me on ${from}` })
                : { MessageSid: `SM${'0'.repeat(31)}1`, MessageStatus: 'delivered', AccountSid: ctx.twilio.accountSid, To: from }
            let pairs: Array<[string, string]> = Object.entries(base)
            for (const [sms, status] of mutations) {
              const [op, key, value] = path === '/twilio/sms' ? sms : status
              if (op === 'drop') pairs = pairs.filter(([k]) => k !== key)
              else if (op === 'set') pairs = [...pairs.filter(([k]) => k !== key), [key, value]]
              else {
                pairs = [...pairs, [key, `${base[key] ?? 'x'}-again`]]
                if (pairs.filter(([k]) => k === key).length < 2) pairs = [...pairs, [key, 'and-again']]
              }
            }
            pairs = [...pairs, ...extras]
            const raw = encodePairs(pairs)
            const signature = twilioSign(`${PUBLIC_URL}${path}`, parseForm(raw))
            await probe({ url: path, headers: formHeaders(signature), payload: raw, phones: [from] }, { status: [400, 403] })
          },
        ),
      )
    })

    await t.test('Twilio: a real signature replayed with another body, or on another path: 403', async () => {
      await check(
        'replayed Twilio signatures',
        fc.asyncProperty(
          phone,
          fc.constantFrom('change', 'add', 'remove', 'path', 'query'),
          fc.constantFrom('Body', 'From', 'To', 'MessageSid', 'NumMedia', 'SmsStatus'),
          fc.string({ minLength: 1, maxLength: 20 }),
          async (from, how, key, value) => {
            const signed = inboundForm(ctx, { From: from, Body: 'the original text' })
            const signature = twilioSign(`${PUBLIC_URL}/twilio/sms`, signed)
            const form: Record<string, string> = { ...signed }
            let url = '/twilio/sms'
            if (how === 'change') form[key] = form[key] === value ? `${value}!` : value
            if (how === 'add') form[`Extra${key}`] = value
            if (how === 'remove') delete form[key]
            if (how === 'path') url = '/twilio/status'
            if (how === 'query') url = `/twilio/sms?${encodeURIComponent(key)}=${encodeURIComponent(value)}`
            await probe(
              { url, headers: formHeaders(signature), payload: new URLSearchParams(form).toString(), phones: [from] },
              { status: [403] },
            )
          },
        ),
      )
    })

    await t.test('Twilio: wrong content types, even with a signature over the parameters: 4xx', async () => {
      await check(
        'Twilio routes with other content types',
        fc.asyncProperty(
          fc.constantFrom('/twilio/sms', '/twilio/status'),
          fc.constantFrom(
            'application/json',
            'text/plain',
            'multipart/form-data; boundary=xyz',
            'application/xml',
            'application/octet-stream',
            null,
          ),
          phone,
          fc.boolean(),
          async (path, contentType, from, signed) => {
            const form =
              path === '/twilio/sms'
                ? inboundForm(ctx, { From: from })
                : { MessageSid: `SM${'0'.repeat(31)}2`, MessageStatus: 'sent', AccountSid: ctx.twilio.accountSid }
            const payload =
              contentType === 'application/json'
                ? JSON.stringify(form)
                : contentType?.startsWith('multipart/')
                  ? Object.entries(form)
                      .map(([k, v]) => `--xyz\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
                      .join('') + '--xyz--\r\n'
                  : new URLSearchParams(form).toString()
            const signature = signed ? twilioSign(`${PUBLIC_URL}${path}`, form) : undefined
            const headers: Record<string, string> = {
              ...(contentType ? { 'content-type': contentType } : {}),
              ...(signature ? { 'x-twilio-signature': signature } : {}),
            }
            await probe({ url: path, headers, payload, phones: [from] }, { status: [400, 403, 415] })
          },
        ),
        60,
      )
    })

    await afterwards()
  },
)

t.test('regressions the properties found: Twilio', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false, env: { SERIES_WEBHOOK_SECRET: SERIES_SECRET } })
  const count = () => storedCount(ctx.app)

  // ["/twilio/sms",[],"none","+12010000000",false]: the request log line carried the URL as sent.
  for (const url of ['/twilio/sms?From=%2B12010000000', '/twilio/status?to=12010000000&x=1']) {
    const res = await ctx.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'Body=hi',
    })
    t.equal(res.statusCode, 403, `${url}: refused`)
  }
  t.notOk(ctx.logs.text.includes('12010000000'), 'a number in the query string is not logged in full')
  t.ok(ctx.logs.text.includes('*******0000'), 'but masked to its last four digits')

  // ["/twilio/sms","application/json","+12010000000",true]: a JSON body whose parameters were signed
  // as a form's would be was stored as a text. Twilio only posts forms.
  const form = inboundForm(ctx, { From: '+12010000000' })
  const json = await ctx.app.inject({
    method: 'POST',
    url: '/twilio/sms',
    headers: {
      'content-type': 'application/json',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(ctx.twilio.authToken, `${PUBLIC_URL}/twilio/sms`, form),
    },
    payload: JSON.stringify(form),
  })
  t.equal(json.statusCode, 415, 'a signed JSON body on /twilio/sms: 415')
  t.match(json.json(), { error: { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' } })
  t.equal(await count(), 0, 'nothing stored')
})
