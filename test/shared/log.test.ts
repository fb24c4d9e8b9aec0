import t from 'tap'
import { maskPhone, createLogger } from '../../shared/log.js'
import { createTwilioClient } from '../../server/clients/twilio.js'
import { LogCapture } from '../support/logs.js'

t.test('maskPhone keeps only the last four digits', async (t) => {
  const cases: Array<[string | null | undefined, string]> = [
    ['+14155550100', '+*******0100'],
    ['+447700900123', '+********0123'],
    ['14155550100', '*******0100'],
    ['(415) 555-0100', '******0100'],
    ['12345', '12345'], // short code: not personal
    ['ACME', 'ACME'], // alphanumeric sender
    ['', ''],
    [null, ''],
    [undefined, ''],
  ]
  for (const [input, expected] of cases) t.equal(maskPhone(input), expected, `${input} -> ${expected}`)
})

t.test('phone numbers are masked in records and messages; credentials are redacted', async (t) => {
  const out = new LogCapture()
  const log = createLogger('info', out)
  log.info(
    {
      from: '+14155550123',
      nested: { phone: '+447700900123', note: 'customer +33612345678 wrote' },
      list: ['+14155550999'],
      contactId: '6657a1b2c3d4e5f601234567',
      req: { headers: { authorization: 'Basic c2VjcmV0', 'x-hub-signature': 'sha1=abc' } },
      config: { authToken: 'tw-secret', accessToken: 'ic-secret', clientSecret: 'cs-secret' },
    },
    'text from +14155550123 stored',
  )
  const text = out.text
  for (const full of ['+14155550123', '+447700900123', '+33612345678', '+14155550999']) {
    t.notMatch(text, full, `${full} does not appear`)
  }
  t.match(text, '+*******0123')
  t.match(text, '6657a1b2c3d4e5f601234567', 'ids are left alone')
  for (const secret of ['c2VjcmV0', 'sha1=abc', 'tw-secret', 'ic-secret', 'cs-secret']) {
    t.notMatch(text, secret, `${secret} redacted`)
  }
  const [record] = out.records()
  t.equal(record?.msg, 'text from +*******0123 stored')
})

t.test("an API client's error is logged without the request it made: no credentials", async (t) => {
  const config = { accountSid: `AC${'7'.repeat(32)}`, authToken: 'twilio-auth-token-never-logged', apiBaseUrl: 'http://127.0.0.1:9' }
  const client = createTwilioClient(config)
  // Nothing listens on port 9: the twilio SDK's HTTP client fails and its error carries the request.
  const err = await client.messages.list({ limit: 1 }).then(
    () => null,
    (e: unknown) => e,
  )
  t.ok(err && typeof err === 'object' && 'config' in err, 'the raw error does carry the request config')
  const out = new LogCapture()
  createLogger('info', out).warn({ err }, 'could not list recent texts from Twilio; will try again')
  const basic = Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')
  t.notMatch(out.text, config.authToken)
  t.notMatch(out.text, basic, 'nor the Basic header made of it')
  t.match(out.text, /ECONNREFUSED/, 'what went wrong is still there')
})
