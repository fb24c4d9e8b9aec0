import t from 'tap'
import { createHmac } from 'node:crypto'
import fc from 'fast-check'
import { sql } from 'kysely'
import { parse as parseForm } from 'fast-querystring'
import twilio from 'twilio'
import { canvasResponse } from '../../canvas/schema.js'
import { WEBHOOK_TOPICS } from '../../server/routes/intercom.js'
import { signCanvas, signIntercomWebhook } from '../../sandbox/intercom/index.js'
import { buildTestApp, causedJobs, inboundForm, PUBLIC_URL } from '../helper.js'

// Bad input on every surface: random and malformed bodies, wrong content types, huge bodies, invalid
// UTF-8, bad and replayed signatures, unknown topics, Canvas and Series requests missing fields. Each
// case: a clear 4xx (Canvas Kit: a canvas saying what went wrong), nothing stored, the process still
// serving, and no secret or full phone number from the input in the logs. FAULT_RUNS and FAULT_SEED
// replay a failure.
const RUNS = Number(process.env.FAULT_RUNS ?? 120)
const SEED = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : undefined
const SERIES_SECRET = 'series-secret-0123456789abcdef'
const ADMIN_TOKEN = 'admin-token-0123456789abcdef-xyz'
const CANVAS_PATHS = ['/canvas/inbox/initialize', '/canvas/inbox/submit', '/canvas/messenger/initialize', '/canvas/messenger/submit']
const KNOWN_TOPICS: readonly string[] = WEBHOOK_TOPICS

interface Probe {
  url: string
  headers?: Record<string, string>
  payload?: string | Buffer
  /** Phone numbers the input carries, in the forms it carries them: none may reach the logs. */
  phones?: string[]
}

interface Expect {
  status: number[]
  /** Canvas Kit answers a canvas (200), errors included. */
  canvas?: boolean
}

const digits = (s: string) => s.replace(/\D/g, '')

// ---------------------------------------------------------------------------------------------------
// Arbitraries

/** Phone numbers in the forms people and Twilio write them. */
const phone = fc
  .tuple(fc.integer({ min: 201, max: 989 }), fc.integer({ min: 0, max: 9_999_999 }), fc.constantFrom('e164', 'digits', 'national', 'uk'))
  .map(([area, n, form]) => {
    const local = String(n).padStart(7, '0')
    if (form === 'e164') return `+1${area}${local}`
    if (form === 'digits') return `1${area}${local}`
    if (form === 'uk') return `+447${String(area).padStart(3, '0')}${local.slice(0, 6)}`
    return `(${area}) ${local.slice(0, 3)}-${local.slice(3)}`
  })

/** Strings a hostile or broken client sends: any code points, control characters, markup, phones. */
const nasty = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('', ' ', '\u0000', '\r\n', '\u202e', '%', '%zz', '%E0%A4', '<Response/>', '{"a":1}', '__proto__', 'null', '-1', '1e309', 'SM', 'AC'),
  phone,
)

const twilioKey = fc.oneof(
  fc.constantFrom('MessageSid', 'AccountSid', 'From', 'To', 'Body', 'NumMedia', 'NumSegments', 'MessageStatus', 'ErrorCode', 'MediaUrl0', '__proto__', 'constructor'),
  fc.string({ maxLength: 12 }),
)

/** A form as a list of pairs, so keys can repeat. */
const randomPairs = fc.array(fc.tuple(twilioKey, nasty), { maxLength: 14 })

/** Raw bodies that are not well-formed forms: broken percent-encoding, stray separators, bytes. */
const rawFormBody = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom('%', '%Z', '%E0%A4%', '%FF%FE', '%00', '=', '==', '&', '&&', ';', '+', 'From=', 'Body=', 'MessageSid=SM', '\u0000', '\r\n'), fc.string({ maxLength: 8 }), phone), { maxLength: 20 }).map((a) => a.join('')),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  // Invalid UTF-8 sequences inside otherwise ordinary parameters.
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), phone).map(([bytes, p]) =>
    Buffer.concat([Buffer.from(`From=${encodeURIComponent(p)}&Body=`), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]), Buffer.from(bytes)]),
  ),
)

/** Another way of signing that must not pass: none, garbage, another token, another URL. */
type SignatureMode = 'none' | 'garbage' | 'other-token' | 'internal-url' | 'other-path' | 'empty'
const badSignature = fc.constantFrom<SignatureMode>('none', 'garbage', 'other-token', 'internal-url', 'other-path', 'empty')

/** JSON that is anything but what the route expects. */
const anyJson = fc.jsonValue({ maxDepth: 3 })

// ---------------------------------------------------------------------------------------------------

t.test('bad input on every surface: a clear 4xx, nothing stored, still serving, nothing sensitive logged', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false, env: { SERIES_WEBHOOK_SECRET: SERIES_SECRET, ADMIN_TOKEN, INTERCOM_WORKSPACE_ID: 'abc123xy' } })
  const { app } = ctx
  const secrets = [ctx.twilio.authToken, ctx.intercom.token, ctx.intercom.clientSecret, SERIES_SECRET, ADMIN_TOKEN]
  const tables = (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(app.store.db)).rows.map((r) => r.name)
  t.ok(tables.includes('messages') && tables.includes('jobs') && tables.includes('webhook_receipts'), 'the tables to count exist', { tables })
  const countRows = async () => {
    const select = tables.map((name) => `(select count(*) from "${name}") as "${name}"`).join(', ')
    const row = (await sql.raw<Record<string, number>>(`select ${select}`).execute(app.store.db)).rows[0]!
    return Object.fromEntries(tables.map((name) => [name, Number(row[name])]))
  }

  const twilioSign = (url: string, params: Record<string, unknown>, token = ctx.twilio.authToken) => twilio.getExpectedTwilioSignature(token, url, params as Record<string, string>)
  const signatureFor = (mode: SignatureMode, path: string, params: Record<string, unknown>): string | undefined => {
    switch (mode) {
      case 'none':
        return undefined
      case 'empty':
        return ''
      case 'garbage':
        return Buffer.from(JSON.stringify(params).slice(0, 20)).toString('base64')
      case 'other-token':
        return twilioSign(`${PUBLIC_URL}${path}`, params, 'not-the-auth-token')
      case 'internal-url':
        return twilioSign(`http://127.0.0.1:3000${path}`, params)
      case 'other-path':
        return twilioSign(`${PUBLIC_URL}${path === '/twilio/sms' ? '/twilio/status' : '/twilio/sms'}`, params)
    }
  }
  const formHeaders = (signature: string | undefined, contentType = 'application/x-www-form-urlencoded') => ({
    'content-type': contentType,
    ...(signature === undefined ? {} : { 'x-twilio-signature': signature }),
  })
  const encodePairs = (pairs: Array<[string, string]>) => {
    const form = new URLSearchParams()
    for (const [k, v] of pairs) form.append(k, v)
    return form.toString()
  }

  /** Sends one request and checks everything the fault suite promises about bad input. */
  async function probe(req: Probe, expect: Expect): Promise<void> {
    const logStart = ctx.logs.lines.length
    const before = await countRows()
    const res = await app.inject({ method: 'POST', url: req.url, headers: req.headers ?? {}, ...(req.payload === undefined ? {} : { payload: req.payload }) })
    const what = `POST ${req.url} (${req.headers?.['content-type'] ?? 'no content type'})`
    if (!expect.status.includes(res.statusCode)) throw new Error(`${what} answered ${res.statusCode}, expected ${expect.status.join(' or ')}: ${res.body.slice(0, 300)}`)
    if (expect.canvas && (res.statusCode === 200 || res.statusCode === 403)) {
      const parsed = canvasResponse.safeParse(res.json())
      if (!parsed.success) throw new Error(`${what} answered something that is not a canvas: ${res.body.slice(0, 300)}`)
    } else {
      let body: { error?: { code?: unknown; message?: unknown } } | undefined
      try {
        body = res.json()
      } catch {
        throw new Error(`${what} answered ${res.statusCode} without a JSON error: ${res.body.slice(0, 300)}`)
      }
      if (typeof body?.error?.code !== 'string' || typeof body.error.message !== 'string' || body.error.message.length < 5) {
        throw new Error(`${what} answered ${res.statusCode} without a clear error: ${res.body.slice(0, 300)}`)
      }
    }
    const after = await countRows()
    for (const name of tables) {
      if (after[name] !== before[name]) throw new Error(`${what} (${res.statusCode}) changed ${name}: ${before[name]} -> ${after[name]}`)
    }
    const health = await app.inject({ method: 'GET', url: '/healthz' })
    if (health.statusCode !== 200) throw new Error(`after ${what} /healthz answered ${health.statusCode}`)
    const logged = ctx.logs.lines.slice(logStart).join('\n')
    for (const secret of secrets) if (logged.includes(secret)) throw new Error(`${what}: a secret reached the logs`)
    for (const p of req.phones ?? []) {
      if (logged.includes(p) || (digits(p).length >= 7 && logged.includes(digits(p)))) throw new Error(`${what}: the phone number ${p} reached the logs:\n${logged}`)
    }
  }

  const check = async (name: string, property: Parameters<typeof fc.assert>[0], runs = RUNS) => {
    const started = Date.now()
    await fc.assert(property, { numRuns: runs, ...(SEED === undefined ? {} : { seed: SEED }) })
    t.pass(`${name} (${runs} runs, ${Date.now() - started} ms)`)
  }

  // --- Twilio: /twilio/sms and /twilio/status -----------------------------------------------------

  await t.test('Twilio: random forms, unsigned or wrongly signed, with or without a query: 403', async () => {
    await check(
      'random Twilio forms with bad signatures',
      fc.asyncProperty(fc.constantFrom('/twilio/sms', '/twilio/status'), randomPairs, badSignature, fc.option(phone, { nil: null }), fc.boolean(), async (path, pairs, mode, queryPhone, realShaped) => {
        const all: Array<[string, string]> = realShaped ? [...Object.entries(inboundForm(ctx)), ...pairs] : pairs
        const raw = encodePairs(all)
        const url = queryPhone ? `${path}?From=${encodeURIComponent(queryPhone)}` : path
        const signature = signatureFor(mode, url, parseForm(raw))
        await probe(
          { url, headers: formHeaders(signature), payload: raw, phones: [...all.map(([, v]) => v), ...(queryPhone ? [queryPhone] : [])].filter((v) => digits(v).length >= 10) },
          { status: [403] },
        )
      }),
    )
  })

  await t.test('Twilio: malformed bodies (broken encoding, stray separators, invalid UTF-8, raw bytes): 4xx', async () => {
    await check(
      'malformed Twilio bodies',
      fc.asyncProperty(fc.constantFrom('/twilio/sms', '/twilio/status'), rawFormBody, fc.constantFrom<SignatureMode>('none', 'garbage', 'other-token'), async (path, raw, mode) => {
        const signature = signatureFor(mode, path, parseForm(raw.toString()))
        await probe({ url: path, headers: formHeaders(signature), payload: raw }, { status: [400, 403] })
      }),
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
        fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 10 }).map((k) => `X-${k}`), nasty), { maxLength: 4 }),
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
            else if (op === 'set') pairs = [...pairs.filter(([k]) => k !== key), [key!, value!]]
            else {
              pairs = [...pairs, [key!, `${base[key!] ?? 'x'}-again`]]
              if (pairs.filter(([k]) => k === key).length < 2) pairs = [...pairs, [key!, 'and-again']]
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
          let form: Record<string, string> = { ...signed }
          let url = '/twilio/sms'
          if (how === 'change') form[key] = form[key] === value ? `${value}!` : value
          if (how === 'add') form[`Extra${key}`] = value
          if (how === 'remove') delete form[key]
          if (how === 'path') url = '/twilio/status'
          if (how === 'query') url = `/twilio/sms?${encodeURIComponent(key)}=${encodeURIComponent(value)}`
          await probe({ url, headers: formHeaders(signature), payload: new URLSearchParams(form).toString(), phones: [from] }, { status: [403] })
        },
      ),
    )
  })

  await t.test('Twilio: wrong content types, even with a signature over the parameters: 4xx', async () => {
    await check(
      'Twilio routes with other content types',
      fc.asyncProperty(
        fc.constantFrom('/twilio/sms', '/twilio/status'),
        fc.constantFrom('application/json', 'text/plain', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/octet-stream', null),
        phone,
        fc.boolean(),
        async (path, contentType, from, signed) => {
          const form = path === '/twilio/sms' ? inboundForm(ctx, { From: from }) : { MessageSid: `SM${'0'.repeat(31)}2`, MessageStatus: 'sent', AccountSid: ctx.twilio.accountSid }
          const payload =
            contentType === 'application/json'
              ? JSON.stringify(form)
              : contentType?.startsWith('multipart/')
                ? Object.entries(form).map(([k, v]) => `--xyz\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + '--xyz--\r\n'
                : new URLSearchParams(form).toString()
          const signature = signed ? twilioSign(`${PUBLIC_URL}${path}`, form) : undefined
          const headers: Record<string, string> = { ...(contentType ? { 'content-type': contentType } : {}), ...(signature ? { 'x-twilio-signature': signature } : {}) }
          await probe({ url: path, headers, payload, phones: [from] }, { status: [400, 403, 415] })
        },
      ),
      60,
    )
  })

  // --- Intercom webhooks ------------------------------------------------------------------------

  const notification = (topic: string, item: unknown) => ({
    type: 'notification_event',
    app_id: 'abc123xy',
    id: `notif_${Math.random().toString(16).slice(2)}`,
    topic,
    delivery_status: 'pending',
    delivery_attempts: 1,
    created_at: Math.floor(Date.now() / 1000),
    data: { type: 'notification_event_data', item },
  })
  const intercomHeaders = (signature: string | undefined, contentType = 'application/json') => ({ 'content-type': contentType, ...(signature === undefined ? {} : { 'x-hub-signature': signature }) })

  await t.test('Intercom: random JSON and non-JSON, unsigned or wrongly signed: 401', async () => {
    await check(
      'Intercom webhooks with bad signatures',
      fc.asyncProperty(
        fc.oneof(anyJson.map((v) => JSON.stringify(v)), fc.string({ maxLength: 60 }), fc.constant(JSON.stringify(notification('conversation.admin.replied', { id: '1' })))),
        fc.constantFrom('none', 'garbage', 'sha256', 'unprefixed', 'other-secret', 'upper-prefix', 'replayed'),
        async (raw, mode) => {
          const sha1 = (secret: string) => signIntercomWebhook(secret, raw)
          const signature =
            mode === 'none'
              ? undefined
              : mode === 'garbage'
                ? `sha1=${Buffer.from(raw.slice(0, 10)).toString('hex')}`
                : mode === 'sha256'
                  ? `sha256=${signCanvas(ctx.intercom.clientSecret, raw)}`
                  : mode === 'unprefixed'
                    ? sha1(ctx.intercom.clientSecret).slice(5)
                    : mode === 'upper-prefix'
                      ? `SHA1=${sha1(ctx.intercom.clientSecret).slice(5)}`
                      : mode === 'replayed'
                        ? signIntercomWebhook(ctx.intercom.clientSecret, JSON.stringify(notification('conversation.admin.replied', { id: '1' })))
                        : sha1('not-the-client-secret')
          // Invalid JSON may be refused before the signature is looked at; either way nothing is stored.
          await probe({ url: '/intercom/webhooks', headers: intercomHeaders(signature), payload: raw }, { status: [400, 401] })
        },
      ),
    )
  })

  await t.test('Intercom: signed, but not JSON or not a notification: 400', async () => {
    const notNotification = fc.oneof(
      anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || (v as Record<string, unknown>).type !== 'notification_event'),
      // Not here: a missing id, a part without author, a numeric part id. Real notifications carry
      // nulls and odd types in such places, and the bridge accepts them (test/server/real-traffic.test.ts).
      fc.tuple(fc.constantFrom('drop-topic', 'drop-data', 'empty-topic', 'data-string', 'item-id-bool', 'parts-not-list', 'attachments-not-list'), phone).map(([how, p]) => {
        const n: any = notification('conversation.admin.replied', {
          type: 'conversation',
          id: '123',
          conversation_parts: { type: 'conversation_part.list', conversation_parts: [{ id: '9', part_type: 'comment', body: `text ${p}`, author: { type: 'admin', id: '1' }, attachments: [] }] },
        })
        const part = n.data.item.conversation_parts.conversation_parts[0]
        if (how === 'drop-topic') delete n.topic
        if (how === 'drop-data') delete n.data
        if (how === 'empty-topic') n.topic = ''
        if (how === 'data-string') n.data = p
        if (how === 'item-id-bool') n.data.item.id = true
        if (how === 'parts-not-list') n.data.item.conversation_parts.conversation_parts = p
        if (how === 'attachments-not-list') part.attachments = { url: p }
        return n
      }),
    )
    await check(
      'signed Intercom bodies that are not notifications',
      fc.asyncProperty(fc.oneof(notNotification.map((v) => JSON.stringify(v)), fc.string({ maxLength: 40 }).filter((s) => !isJson(s)), fc.constantFrom('{', '{"type":', '[1,]', '\u0000', ''), invalidUtf8Json('topic')), async (raw) => {
        await probe({ url: '/intercom/webhooks', headers: intercomHeaders(hmac('sha1', ctx.intercom.clientSecret, raw, 'sha1=')), payload: raw, phones: phonesIn(raw.toString()) }, { status: [400] })
      }),
    )
  })

  await t.test('Intercom: wrong content types: 4xx', async () => {
    await check(
      'Intercom webhooks with other content types',
      fc.asyncProperty(fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=xyz', 'application/xml', null), fc.boolean(), async (contentType, signed) => {
        const raw = JSON.stringify(notification('conversation.admin.replied', { id: '1' }))
        const headers: Record<string, string> = { ...(contentType ? { 'content-type': contentType } : {}), ...(signed ? { 'x-hub-signature': signIntercomWebhook(ctx.intercom.clientSecret, raw) } : {}) }
        await probe({ url: '/intercom/webhooks', headers, payload: raw }, { status: [400, 401, 415] })
      }),
      30,
    )
  })

  await t.test('Intercom: signed notifications of topics the bridge does not handle: 200 (never an error that counts towards a paused subscription), only a count stored; the test ping: 200, nothing stored', async () => {
    const topic = fc.oneof(
      fc.constantFrom('company.created', 'conversation.user.created', 'conversation.user.replied', 'conversation.admin.noted', 'user.tag.created', 'contact.deleted', 'visitor.signed_up', 'conversation.admin.replied '),
      fc.string({ minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
    ).filter((s) => !KNOWN_TOPICS.includes(s) && s !== 'ping')
    // Intercom's item is always an object (or null); any other item is a 400 whatever the topic.
    const item = fc.oneof(fc.constant(null), fc.record({ id: fc.string(), phone }), fc.dictionary(fc.string().filter((k) => k !== 'id' && k !== 'conversation_parts'), anyJson, { maxKeys: 5 }))
    await check(
      'signed unknown topics',
      fc.asyncProperty(topic, item, async (topicName, itemValue) => {
        const raw = JSON.stringify(notification(topicName, itemValue))
        const req = { url: '/intercom/webhooks', headers: intercomHeaders(signIntercomWebhook(ctx.intercom.clientSecret, raw)), payload: raw, phones: phonesIn(raw) }
        // The first time a topic is seen, its counter row for `doctor` is made.
        await probeAccepted(req, { settings_cache: [0, 1] })
      }),
    )
    await check(
      'the test ping',
      fc.asyncProperty(item, async (itemValue) => {
        const raw = JSON.stringify(notification('ping', itemValue))
        await probeAccepted({ url: '/intercom/webhooks', headers: intercomHeaders(signIntercomWebhook(ctx.intercom.clientSecret, raw)), payload: raw, phones: phonesIn(raw) }, {})
      }),
      30,
    )
  })

  /** A signed notification the bridge accepts without acting on it: 200, and only the allowed rows. */
  async function probeAccepted(req: Probe, allow: Record<string, number | number[]>) {
    const before = await countRows()
    const logStart = ctx.logs.lines.length
    const res = await app.inject({ method: 'POST', url: req.url, headers: req.headers ?? {}, payload: req.payload })
    if (res.statusCode !== 200) throw new Error(`${req.url} answered ${res.statusCode}: ${res.body}`)
    const after = await countRows()
    for (const name of tables) {
      if (![allow[name] ?? 0].flat().includes(after[name]! - before[name]!)) throw new Error(`${name}: ${before[name]} -> ${after[name]}`)
    }
    const logged = ctx.logs.lines.slice(logStart).join('\n')
    for (const secret of secrets) if (logged.includes(secret)) throw new Error('a secret reached the logs')
    for (const p of req.phones ?? []) if (logged.includes(p) || logged.includes(digits(p))) throw new Error(`the phone number ${p} reached the logs`)
  }

  // --- Canvas Kit -------------------------------------------------------------------------------

  await t.test('Canvas Kit: unsigned or wrongly signed: 401', async () => {
    await check(
      'Canvas requests with bad signatures',
      fc.asyncProperty(fc.constantFrom(...CANVAS_PATHS), anyJson, fc.constantFrom('none', 'garbage', 'sha1', 'other-secret', 'empty', 'replayed'), async (path, body, mode) => {
        const raw = JSON.stringify(body)
        const signature =
          mode === 'none'
            ? undefined
            : mode === 'empty'
              ? ''
              : mode === 'garbage'
                ? 'ab'.repeat(32)
                : mode === 'sha1'
                  ? signIntercomWebhook(ctx.intercom.clientSecret, raw).slice(5)
                  : mode === 'replayed'
                    ? signCanvas(ctx.intercom.clientSecret, `${raw} `)
                    : signCanvas('not-the-client-secret', raw)
        await probe({ url: path, headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'x-body-signature': signature }) }, payload: raw }, { status: [401] })
      }),
    )
  })

  await t.test('Canvas Kit: signed requests without a usable contact, or with fields of the wrong type: a canvas saying so', async () => {
    const usableContact = (v: unknown) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) && ['contact', 'customer', 'user'].some((k) => {
        const c = (v as Record<string, any>)[k]
        return typeof c === 'object' && c !== null && typeof c.id === 'string' && c.id.length > 0
      })
    const request = fc.oneof(
      anyJson.filter((v) => !usableContact(v)),
      fc.tuple(fc.constantFrom('no-contact', 'id-number', 'id-empty', 'contact-string', 'inputs-string', 'inputs-list', 'admin-list', 'component-number', 'conversation-bool', 'phone-number'), phone, fc.constantFrom('send_sms', 'save_phone', 'subscribe', 'send_welcome')).map(([how, p, component]) => {
        const r: any = {
          workspace_id: 'abc123xy',
          admin: { type: 'admin', id: '1', name: 'Sam' },
          conversation: { type: 'conversation', id: '42' },
          contact: { type: 'contact', id: 'c1', role: 'lead' },
          component_id: component,
          input_values: { sms_body: `text ${p}`, phone_input: p, phone: p, consent: ['agree'] },
        }
        if (how === 'no-contact') delete r.contact
        if (how === 'id-number') r.contact.id = 1
        if (how === 'id-empty') r.contact.id = ''
        if (how === 'contact-string') r.contact = p
        if (how === 'inputs-string') r.input_values = p
        if (how === 'inputs-list') r.input_values = [p]
        if (how === 'admin-list') r.admin = [p]
        if (how === 'component-number') r.component_id = 7
        if (how === 'conversation-bool') r.conversation = { id: true }
        if (how === 'phone-number') r.contact.phone = 14155550100
        return r
      }),
    )
    await check(
      'signed Canvas requests without a usable contact',
      fc.asyncProperty(fc.constantFrom(...CANVAS_PATHS), fc.oneof(request.map((body) => JSON.stringify(body)), invalidUtf8Json('component_id')), async (path, raw) => {
        // Our workspace's request without a usable contact: a canvas saying so (200); a body that
        // does not name our workspace: refused with a canvas saying so (403).
        const ours = (() => {
          try {
            return JSON.parse(raw.toString())?.workspace_id === 'abc123xy'
          } catch {
            return false
          }
        })()
        await probe({ url: path, headers: { 'content-type': 'application/json', 'x-body-signature': hmac('sha256', ctx.intercom.clientSecret, raw) }, payload: raw, phones: phonesIn(raw.toString()) }, { status: ours ? [200] : [200, 403], canvas: true })
      }),
    )
  })

  await t.test('Canvas Kit: signed but not JSON, or another content type: 4xx', async () => {
    await check(
      'Canvas requests that are not JSON',
      fc.asyncProperty(fc.constantFrom(...CANVAS_PATHS), fc.oneof(fc.string({ maxLength: 40 }).filter((s) => !isJson(s)), fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')).filter((s) => !isJson(s))), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'), async (path, raw, contentType) => {
        await probe({ url: path, headers: { 'content-type': contentType, 'x-body-signature': signCanvas(ctx.intercom.clientSecret, raw) }, payload: raw }, { status: [400, 401, 415] })
      }),
      60,
    )
  })

  // --- Series -----------------------------------------------------------------------------------

  await t.test('Series: a missing or wrong secret: 401; a malformed payload: 400 naming the field', async () => {
    const valid = { contact_id: 'c1', step_id: 'renewal', message: 'Your plan renews tomorrow' }
    const malformed = fc.oneof(
      anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as Record<string, unknown>).contact_id !== 'string'),
      fc.tuple(fc.constantFrom('no-contact', 'no-step', 'contact-empty', 'contact-blank', 'contact-number', 'step-long', 'both', 'neither', 'message-empty', 'message-long', 'unknown-template', 'phone-long', 'phone-number'), phone).map(([how, p]) => {
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
      fc.asyncProperty(fc.oneof(malformed.map((b) => ({ b, secret: SERIES_SECRET as string | undefined, status: 400 })), fc.record({ b: fc.constant<unknown>(valid), secret: fc.option(fc.oneof(fc.string(), fc.constant(SERIES_SECRET.slice(0, -1)), fc.constant(`${SERIES_SECRET} `)), { nil: undefined }), status: fc.constant(401) })), async ({ b, secret, status }) => {
        const raw = JSON.stringify(b)
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(secret === undefined ? {} : { 'x-bridge-secret': secret }) }
        await probe({ url: '/intercom/series', headers, payload: raw, phones: phonesIn(raw) }, { status: [status] })
      }),
    )
    // Not JSON, or another content type.
    for (const [contentType, raw] of [['application/json', '{"contact_id":'], ['text/plain', JSON.stringify(valid)], ['application/x-www-form-urlencoded', 'contact_id=c1&step_id=x&message=hi']] as const) {
      await probe({ url: '/intercom/series', headers: { 'content-type': contentType, 'x-bridge-secret': SERIES_SECRET }, payload: raw }, { status: [400, 415] })
    }
  })

  // --- Huge bodies ------------------------------------------------------------------------------

  await t.test('huge bodies on every surface: 413', async (t) => {
    const big = (bytes: number) => 'x'.repeat(bytes)
    const form = inboundForm(ctx)
    const hugeForm = `${new URLSearchParams(form)}&Body=${big(300 * 1024)}`
    const hugeJson = (bytes: number) => JSON.stringify({ ...notification('conversation.admin.replied', { id: '1' }), padding: big(bytes) })
    const cases: Array<[string, Probe]> = [
      ['/twilio/sms, 300 KB form', { url: '/twilio/sms', headers: formHeaders(twilioSign(`${PUBLIC_URL}/twilio/sms`, parseForm(hugeForm))), payload: hugeForm }],
      ['/twilio/status, 300 KB form', { url: '/twilio/status', headers: formHeaders('sig'), payload: hugeForm }],
      ['/intercom/webhooks, 1.1 MB', { url: '/intercom/webhooks', headers: intercomHeaders(signIntercomWebhook(ctx.intercom.clientSecret, hugeJson(1_100_000))), payload: hugeJson(1_100_000) }],
      ...CANVAS_PATHS.map((path): [string, Probe] => [`${path}, 300 KB`, { url: path, headers: { 'content-type': 'application/json', 'x-body-signature': signCanvas(ctx.intercom.clientSecret, hugeJson(300 * 1024)) }, payload: hugeJson(300 * 1024) }]),
      ['/intercom/series, 300 KB', { url: '/intercom/series', headers: { 'content-type': 'application/json', 'x-bridge-secret': SERIES_SECRET }, payload: hugeJson(300 * 1024) }],
    ]
    for (const [name, req] of cases) {
      await probe(req, { status: [413] })
      t.pass(`${name}: 413`)
    }
    // Many fields, signed or not, small or not: refused before parsing, whatever they are called.
    await check(
      'Twilio forms with more fields than Twilio sends',
      fc.asyncProperty(fc.integer({ min: 151, max: 5_000 }), fc.constantFrom('/twilio/sms', '/twilio/status'), fc.boolean(), async (fields, url, signed) => {
        const extra = Object.fromEntries(Array.from({ length: fields }, (_, i) => [`X${i}`, String(i)]))
        const many = { ...form, ...extra }
        await probe({ url, headers: formHeaders(signed ? twilioSign(`${PUBLIC_URL}${url}`, many) : 'sig'), payload: new URLSearchParams(many).toString() }, { status: [413] })
      }),
      20,
    )
    // Under the Twilio routes' 32 KB limit but far over what a text may be: the field is named.
    const long = { ...form, Body: big(20 * 1024) }
    const raw = new URLSearchParams(long).toString()
    await probe({ url: '/twilio/sms', headers: formHeaders(twilioSign(`${PUBLIC_URL}/twilio/sms`, long)), payload: raw }, { status: [400] })
    t.pass('a 20 KB Body under the body limit: 400')
  })

  // --- Afterwards -------------------------------------------------------------------------------

  await t.test('afterwards the process still serves real traffic, and the logs carry no secret', async (t) => {
    const ready = await app.inject({ method: 'GET', url: '/readyz' })
    t.equal(ready.statusCode, 200, 'ready')
    const form = inboundForm(ctx, { From: '+14155550999', Body: 'still there?' })
    const raw = new URLSearchParams(form).toString()
    const res = await app.inject({ method: 'POST', url: '/twilio/sms', headers: formHeaders(twilioSign(`${PUBLIC_URL}/twilio/sms`, form)), payload: raw })
    t.equal(res.statusCode, 200, 'a real text is still accepted')
    for (const secret of secrets) t.notOk(ctx.logs.text.includes(secret), 'no secret anywhere in the logs')
    t.notOk(ctx.logs.text.includes('4155550999'), 'nor the full number of the real text')
    t.notOk(ctx.logs.records().some((r) => Number(r.level) >= 50), 'nothing logged as an error')
  })
})

t.test('regressions the properties found', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false, env: { SERIES_WEBHOOK_SECRET: SERIES_SECRET } })
  const count = async () => Number((await ctx.app.store.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n) + (await causedJobs(ctx.app)).length + Number((await ctx.app.store.db.selectFrom('automated_sends').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)

  // ["/twilio/sms",[],"none","+12010000000",false]: the request log line carried the URL as sent.
  for (const url of ['/twilio/sms?From=%2B12010000000', '/twilio/status?to=12010000000&x=1']) {
    const res = await ctx.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'Body=hi' })
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
    headers: { 'content-type': 'application/json', 'x-twilio-signature': twilio.getExpectedTwilioSignature(ctx.twilio.authToken, `${PUBLIC_URL}/twilio/sms`, form) },
    payload: JSON.stringify(form),
  })
  t.equal(json.statusCode, 415, 'a signed JSON body on /twilio/sms: 415')
  t.match(json.json(), { error: { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' } })

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

/** JSON whose one string value carries bytes that are not UTF-8 (no contact, not a notification). */
function invalidUtf8Json(key: string) {
  return fc.uint8Array({ minLength: 1, maxLength: 16 }).map((bytes) => Buffer.concat([Buffer.from(`{"${key}":"`), Buffer.from([0xff, 0xc0, 0xed, 0xa0, 0x80]), Buffer.from(bytes.filter((b) => b !== 0x22 && b !== 0x5c && b >= 0x20)), Buffer.from('"}')]))
}

/** Signs raw bytes as Intercom does (webhooks: sha1 with a prefix; Canvas Kit: sha256). */
function hmac(algorithm: 'sha1' | 'sha256', secret: string, raw: string | Buffer, prefix = ''): string {
  return `${prefix}${createHmac(algorithm, secret).update(raw).digest('hex')}`
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

/** The phone numbers a generated body carries (what the arbitraries put in it). */
function phonesIn(raw: string): string[] {
  return [...raw.matchAll(/\+1\d{10}|\+447\d{9}|(?<!\d)1\d{10}(?!\d)|\(\d{3}\) \d{3}-\d{4}/g)].map((m) => m[0])
}
