import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, SETTINGS, loadConfig } from '../../server/config.js'
import { senderLimits } from '../../server/bridge/pacing.js'
import { tempDir } from '../support/db.js'

const SID = `AC${'0123456789abcdef'.repeat(2)}`
const valid = {
  PUBLIC_URL: 'https://sms.example.com/',
  TWILIO_ACCOUNT_SID: SID,
  TWILIO_AUTH_TOKEN: 'twilio-secret-value',
  TWILIO_PHONE_NUMBER: '+14155550100',
  INTERCOM_ACCESS_TOKEN: 'intercom-secret-value',
  INTERCOM_CLIENT_SECRET: 'client-secret-value',
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, null)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

t.test('defaults', async (t) => {
  const c = loadConfig(valid, null)
  t.equal(c.port, 3000)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.publicUrl, 'https://sms.example.com', 'trailing slash removed')
  t.equal(c.database.url, 'file:./data/bridge.db')
  t.equal(c.intercom.region, 'us')
  t.equal(c.intercom.apiBaseUrl, 'https://api.intercom.io')
  t.equal(c.smsTag, 'sms')
  t.equal(c.reopenWindowDays, 5)
  t.equal(c.relayBotReplies, true)
  t.equal(c.logLevel, 'info')
  t.same(c.twilio.phoneNumbers, ['+14155550100'])
  t.equal(c.twilio.apiBaseUrl, undefined)
})

t.test('values are parsed', async (t) => {
  const c = loadConfig(
    {
      ...valid,
      PORT: '8080',
      TWILIO_PHONE_NUMBER: '+14155550100, +447700900123',
      INTERCOM_REGION: 'eu',
      DEFAULT_COUNTRY: 'gb',
      RELAY_BOT_REPLIES: 'false',
      INTERCOM_ADMIN_ID: '',
      DATABASE_URL: 'libsql://bridge-team.turso.io',
      DATABASE_AUTH_TOKEN: 'turso-token',
    },
    null,
  )
  t.equal(c.port, 8080)
  t.same(c.twilio.phoneNumbers, ['+14155550100', '+447700900123'], 'several numbers')
  t.equal(c.intercom.apiBaseUrl, 'https://api.eu.intercom.io', 'regional base URL')
  t.equal(c.defaultCountry, 'GB')
  t.equal(c.relayBotReplies, false)
  t.equal(c.intercom.adminId, undefined, 'empty means unset')
  t.equal(c.database.authToken, 'turso-token')
  t.equal(loadConfig({ ...valid, INTERCOM_REGION: 'au' }, null).intercom.apiBaseUrl, 'https://api.au.intercom.io')
  t.equal(
    loadConfig({ ...valid, INTERCOM_API_BASE_URL: 'http://127.0.0.1:9999' }, null).intercom.apiBaseUrl,
    'http://127.0.0.1:9999',
    'an explicit base URL wins over the region',
  )
  const viaService = loadConfig({ ...valid, TWILIO_PHONE_NUMBER: '', TWILIO_MESSAGING_SERVICE_SID: `MG${'a'.repeat(32)}` }, null)
  t.same(viaService.twilio.phoneNumbers, [])
  t.equal(viaService.twilio.messagingServiceSid, `MG${'a'.repeat(32)}`, 'a Messaging Service alone is enough')
})

t.test('with nothing set, one error names every missing setting', async (t) => {
  const problems = problemsOf({})
  for (const name of [
    'PUBLIC_URL',
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN',
    'TWILIO_PHONE_NUMBER',
    'INTERCOM_ACCESS_TOKEN',
    'INTERCOM_CLIENT_SECRET',
  ]) {
    t.ok(
      problems.some((p) => p.startsWith(`${name} is required`)),
      `${name} is named`,
    )
  }
  t.equal(problems.length, 6, 'nothing else: everything else has a default')
})

const invalid: Array<[string, Record<string, string>, RegExp]> = [
  ['PORT', { PORT: 'eighty' }, /^PORT is invalid: expected a port number/],
  ['PORT', { PORT: '70000' }, /^PORT is invalid/],
  ['PUBLIC_URL', { PUBLIC_URL: 'sms.example.com' }, /^PUBLIC_URL is invalid: expected an http\(s\) URL/],
  ['TWILIO_ACCOUNT_SID', { TWILIO_ACCOUNT_SID: 'AC123' }, /^TWILIO_ACCOUNT_SID is invalid: expected an Account SID/],
  ['TWILIO_PHONE_NUMBER', { TWILIO_PHONE_NUMBER: '4155550100' }, /^TWILIO_PHONE_NUMBER is invalid: expected an E\.164/],
  ['TWILIO_MESSAGING_SERVICE_SID', { TWILIO_MESSAGING_SERVICE_SID: 'MGnope' }, /^TWILIO_MESSAGING_SERVICE_SID is invalid/],
  ['INTERCOM_REGION', { INTERCOM_REGION: 'de' }, /^INTERCOM_REGION is invalid: expected us, eu or au/],
  ['DEFAULT_COUNTRY', { DEFAULT_COUNTRY: 'XX' }, /^DEFAULT_COUNTRY is invalid: expected a two-letter country code/],
  ['DATABASE_URL', { DATABASE_URL: 'postgres://db' }, /^DATABASE_URL is invalid: expected file:PATH/],
  ['DATABASE_AUTH_TOKEN', { DATABASE_URL: 'libsql://x.turso.io' }, /^DATABASE_AUTH_TOKEN is required/],
  ['RELAY_BOT_REPLIES', { RELAY_BOT_REPLIES: 'maybe' }, /^RELAY_BOT_REPLIES is invalid: expected true or false/],
  ['LOG_LEVEL', { LOG_LEVEL: 'loud' }, /^LOG_LEVEL is invalid: expected one of fatal, error, warn, info, debug, trace or silent$/],
  [
    'PUBLIC_URL',
    { PUBLIC_URL: 'http://sms.example.com' },
    /^PUBLIC_URL is invalid: expected an https URL \(plain http only for localhost with NODE_ENV=development\)$/,
  ],
  ['PUBLIC_URL', { PUBLIC_URL: 'http://127.0.0.1:3000' }, /^PUBLIC_URL is invalid: expected an https URL/],
  ['TWILIO_API_BASE_URL', { TWILIO_API_BASE_URL: 'not a url' }, /^TWILIO_API_BASE_URL is invalid/],
]

t.test('each invalid setting is named with what it expects', async (t) => {
  for (const [name, env, expected] of invalid) {
    const problems = problemsOf({ ...valid, ...env })
    t.equal(problems.length, 1, `${name}: exactly one problem`)
    t.match(problems[0], expected, `${name}: ${problems[0]}`)
  }
})

t.test('outsider budgets: codes and welcomes apart; the retired shared day cap stops the start', async (t) => {
  t.same(loadConfig(valid, null).caps, { perNumber: 3, perContact: 5, codesPerDay: 200, welcomesPerDay: 500, submitsPerContact: 10 })
  t.same(problemsOf({ ...valid, CAP_TEXTS_PER_DAY: '' }), [], 'empty is as unset')
  t.match(problemsOf({ ...valid, CAP_TEXTS_PER_DAY: '500' }), [
    /^CAP_TEXTS_PER_DAY is invalid: replaced by CAP_CODES_PER_DAY and CAP_WELCOMES_PER_DAY/,
  ])
})

t.test('PUBLIC_URL: https, or plain http for localhost while developing (the demo)', async (t) => {
  for (const url of ['http://127.0.0.1:3000', 'http://localhost:8080', 'http://[::1]:3000']) {
    t.same(problemsOf({ ...valid, NODE_ENV: 'development', PUBLIC_URL: url }), [], url)
  }
  t.match(
    problemsOf({ ...valid, NODE_ENV: 'development', PUBLIC_URL: 'http://sms.example.com' }),
    [/expected an https URL/],
    'not another host',
  )
  t.same(problemsOf({ ...valid, PUBLIC_URL: 'https://sms.example.com' }), [])
})

t.test('secret values never appear in the message', async (t) => {
  const secrets = {
    TWILIO_AUTH_TOKEN: 'tw-very-secret-0001',
    INTERCOM_ACCESS_TOKEN: 'ic-very-secret-0002',
    INTERCOM_CLIENT_SECRET: 'cs-very-secret-0003',
    DATABASE_AUTH_TOKEN: 'db-very-secret-0004',
  }
  try {
    loadConfig({ ...secrets, DATABASE_URL: 'libsql://x.turso.io', PORT: 'x', TWILIO_ACCOUNT_SID: 'bad' }, null)
    t.fail('should have thrown')
  } catch (err) {
    const message = (err as Error).message
    t.match(message, /PORT is invalid/)
    for (const value of Object.values(secrets)) t.notMatch(message, value, 'secret not echoed')
  }
})

t.test('a .env file fills in what the environment does not set', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, '.env')
  writeFileSync(
    file,
    Object.entries({ ...valid, PORT: '4000', SMS_TAG: 'text' })
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  )
  const c = loadConfig({ PORT: '5000' }, file)
  t.equal(c.port, 5000, 'the environment wins')
  t.equal(c.smsTag, 'text', 'the file fills the rest')
  t.equal(c.twilio.authToken, valid.TWILIO_AUTH_TOKEN)
})

t.test('the first line of a configuration error says where settings go', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, '.env')
  t.throws(
    () => loadConfig({}, file),
    {
      message:
        /^Invalid configuration\. Settings go in a \.env file in this folder \(cp \.env\.example \.env, then fill it in\) or in the environment:\n {2}- PUBLIC_URL is required/,
    },
    'no .env yet: how to make one',
  )
  writeFileSync(file, 'PUBLIC_URL=https://sms.example.com\n')
  t.throws(
    () => loadConfig({}, file),
    { message: /^Invalid configuration \(settings are read from \.env and the environment\):\n {2}- TWILIO_ACCOUNT_SID is required/ },
    'a .env already: where they were read',
  )
})

t.test('every setting is described for the README and errors', async (t) => {
  for (const [name, text] of Object.entries(SETTINGS)) t.ok(text.length > 10, `${name} has a description`)
})

t.test('jobs at once: 4 on the embedded file, 16 on a remote database (a job mostly waits for it), or as set', async (t) => {
  t.equal(loadConfig(valid, null).workerConcurrency, 4)
  const remote = { ...valid, DATABASE_URL: 'libsql://bridge-team.turso.io', DATABASE_AUTH_TOKEN: 'token' }
  t.equal(loadConfig(remote, null).workerConcurrency, 16)
  t.equal(loadConfig({ ...remote, WORKER_CONCURRENCY: '2' }, null).workerConcurrency, 2)
  t.equal(loadConfig({ ...valid, WORKER_CONCURRENCY: '8' }, null).workerConcurrency, 8)
  t.match(problemsOf({ ...valid, WORKER_CONCURRENCY: '0' }), [/^WORKER_CONCURRENCY/])
})

t.test('SENDERS: per-number settings in one JSON setting, every problem listed at once, numbers masked', async (t) => {
  const two = { ...valid, TWILIO_PHONE_NUMBER: '+14155550100,+16135550100' }
  const ok = loadConfig(
    { ...two, SENDERS: '{"+14155550100":{"tag":"sales","team":"123","teammate":"456"},"+16135550100":{"countries":["ca"]}}' },
    null,
  )
  t.same(ok.senders.get('+14155550100'), { tag: 'sales', team: '123', teammate: '456' })
  t.same(ok.senders.get('+16135550100'), { countries: ['CA'] }, 'countries upper-cased')
  t.equal(loadConfig(valid, null).senders.size, 0, 'unset: no per-number settings')

  const problems = problemsOf({
    ...two,
    SENDERS: JSON.stringify({
      '+14155550100': { tagg: 'sales', team: 'sales-team', countries: ['CA'] },
      '+16135550100': { countries: ['CA', 'ZZ'] },
      '+14155550199': {},
      [`MG${'c'.repeat(32)}`]: { tag: 'x' },
      'not-a-number': {},
    }),
    PORT: 'abc',
  })
  t.match(problems, [
    /^PORT is invalid/,
    /^SENDERS is invalid: expected an Intercom id .* \(at \+\*+0100\.team\)$/,
    /^SENDERS is invalid: unknown field\(s\) tagg .* \(at \+\*+0100\)$/,
    /^SENDERS is invalid: expected two-letter country codes .* \(at \+\*+0100\.countries\.1\)$/,
    /^SENDERS is invalid: expected keys that are our numbers in E\.164 or the Messaging Service SID/,
  ])
  t.equal(problems.length, 5, 'each problem once, all at once')
  t.notMatch(problems.join('\n'), /\+1415555/, 'our numbers masked')

  // Valid entries that do not fit the other settings: reported together, too.
  const across = problemsOf({
    ...two,
    SENDERS: JSON.stringify({
      '+14155550100': { countries: ['CA'] },
      '+16135550100': { countries: ['CA'] },
      '+14155550199': {},
      [`MG${'c'.repeat(32)}`]: {},
    }),
  })
  t.match(across.sort(), [
    /^SENDERS is invalid: \+\*+0199 is not in TWILIO_PHONE_NUMBER$/,
    /^SENDERS is invalid: CA is the first-contact country of both \+\*+0100 and \+\*+0100$/,
    /^SENDERS is invalid: MGc+ is not TWILIO_MESSAGING_SERVICE_SID$/,
  ])
  t.same(problemsOf({ ...valid, SENDERS: 'nope' }), [
    'SENDERS is invalid: expected JSON such as {"+14155550100":{"tag":"sales","team":"123","countries":["US"]}}',
  ])
  // With a Messaging Service, a number in its pool may be named without TWILIO_PHONE_NUMBER (doctor checks the pool).
  t.same(problemsOf({ ...valid, TWILIO_MESSAGING_SERVICE_SID: `MG${'c'.repeat(32)}`, SENDERS: '{"+14155550199":{"tag":"x"}}' }), [])
})

t.test("SENDERS: a sender's rate and daily cap are fields of its entry, and SENDER_LIMITS says where they went", async (t) => {
  const two = { ...valid, TWILIO_PHONE_NUMBER: '+14155550100,+16135550100' }
  const config = loadConfig({ ...two, SENDERS: '{"+14155550100":{"tag":"sales","rate":4.5,"dailyCap":2000}}' }, null)
  t.same(config.senders.get('+14155550100'), { tag: 'sales', rate: 4.5, dailyCap: 2000 })
  t.match(senderLimits(config, '+14155550100'), { rate: 4.5, rateSet: true, dailyCap: 2000 }, 'pacing reads them from SENDERS')
  t.match(
    senderLimits(config, '+16135550100'),
    { rate: 1, rateSet: false, dailyCap: null },
    "a number without them: Twilio's default, no cap",
  )

  const problems = problemsOf({
    ...two,
    SENDERS: JSON.stringify({ '+14155550100': { rate: 0 }, '+16135550100': { rate: '2', dailyCap: 1.5 } }),
  })
  t.match(problems.sort(), [
    /^SENDERS is invalid: expected a number of texts a second, such as 1 \(at \+\*+0100\.rate\)$/,
    /^SENDERS is invalid: expected a whole number of texts a day \(at \+\*+0100\.dailyCap\)$/,
    /^SENDERS is invalid: expected more than 0 texts a second \(at \+\*+0100\.rate\)$/,
  ])
  t.equal(problems.length, 3)

  // Set before it moved (a main-branch build): the start stops and says where the limits go now,
  // instead of sending at Twilio's defaults without a word.
  t.same(problemsOf({ ...valid, SENDER_LIMITS: '' }), [], 'empty is as unset')
  t.match(problemsOf({ ...valid, SENDER_LIMITS: '{"+14155550100":{"rate":1}}' }), [
    /^SENDER_LIMITS is invalid: moved into SENDERS: put "rate" and "dailyCap" in the sender's entry there/,
  ])
})
