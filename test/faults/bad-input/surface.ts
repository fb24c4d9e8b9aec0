// The harness of the bad-input suite (one test file per surface beside this one): the real app on a
// fresh database, and `probe`, which sends one request and checks everything the suite promises about
// bad input: a clear 4xx (Canvas Kit: a canvas saying what went wrong), nothing stored, the process
// still serving, and no secret or full phone number from the input in the logs. FAULT_RUNS and
// FAULT_SEED replay a failure.
import { createHmac } from 'node:crypto'
import fc from 'fast-check'
import { sql } from 'kysely'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import twilio from 'twilio'
import { canvasResponse } from '../../../canvas/schema.js'
import { WEBHOOK_TOPICS } from '../../../server/routes/intercom.js'
import { buildTestApp, causedJobs, inboundForm, PUBLIC_URL } from '../../helper.js'

export const RUNS = Number(process.env.FAULT_RUNS ?? 120)
export const SEED = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : undefined
export const SERIES_SECRET = 'series-secret-0123456789abcdef'
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef-xyz'
export const CANVAS_PATHS = ['/canvas/inbox/initialize', '/canvas/inbox/submit', '/canvas/messenger/initialize', '/canvas/messenger/submit']
export const KNOWN_TOPICS: readonly string[] = WEBHOOK_TOPICS

export interface Probe {
  url: string
  headers?: Record<string, string>
  payload?: string | Buffer
  /** Phone numbers the input carries, in the forms it carries them: none may reach the logs. */
  phones?: string[]
}

export interface Expect {
  status: number[]
  /** Canvas Kit answers a canvas (200), errors included. */
  canvas?: boolean
}

export const digits = (s: string) => s.replace(/\D/g, '')

// ---------------------------------------------------------------------------------------------------
// Arbitraries

/** Phone numbers in the forms people and Twilio write them. */
export const phone = fc
  .tuple(fc.integer({ min: 201, max: 989 }), fc.integer({ min: 0, max: 9_999_999 }), fc.constantFrom('e164', 'digits', 'national', 'uk'))
  .map(([area, n, form]) => {
    const local = String(n).padStart(7, '0')
    if (form === 'e164') return `+1${area}${local}`
    if (form === 'digits') return `1${area}${local}`
    if (form === 'uk') return `+447${String(area).padStart(3, '0')}${local.slice(0, 6)}`
    return `(${area}) ${local.slice(0, 3)}-${local.slice(3)}`
  })

/** Strings a hostile or broken client sends: any code points, control characters, markup, phones. */
export const nasty = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\r\n',
    '\u202e',
    '%',
    '%zz',
    '%E0%A4',
    '<Response/>',
    '{"a":1}',
    '__proto__',
    'null',
    '-1',
    '1e309',
    'SM',
    'AC',
  ),
  phone,
)

export const twilioKey = fc.oneof(
  fc.constantFrom(
    'MessageSid',
    'AccountSid',
    'From',
    'To',
    'Body',
    'NumMedia',
    'NumSegments',
    'MessageStatus',
    'ErrorCode',
    'MediaUrl0',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 12 }),
)

/** A form as a list of pairs, so keys can repeat. */
export const randomPairs = fc.array(fc.tuple(twilioKey, nasty), { maxLength: 14 })

/** Raw bodies that are not well-formed forms: broken percent-encoding, stray separators, bytes. */
export const rawFormBody = fc.oneof(
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          '%',
          '%Z',
          '%E0%A4%',
          '%FF%FE',
          '%00',
          '=',
          '==',
          '&',
          '&&',
          ';',
          '+',
          'From=',
          'Body=',
          'MessageSid=SM',
          '\u0000',
          '\r\n',
        ),
        fc.string({ maxLength: 8 }),
        phone,
      ),
      { maxLength: 20 },
    )
    .map((a) => a.join('')),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  // Invalid UTF-8 sequences inside otherwise ordinary parameters.
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), phone)
    .map(([bytes, p]) =>
      Buffer.concat([
        Buffer.from(`From=${encodeURIComponent(p)}&Body=`),
        Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]),
        Buffer.from(bytes),
      ]),
    ),
)

/** Another way of signing that must not pass: none, garbage, another token, another URL. */
export type SignatureMode = 'none' | 'garbage' | 'other-token' | 'internal-url' | 'other-path' | 'empty'
export const badSignature = fc.constantFrom<SignatureMode>('none', 'garbage', 'other-token', 'internal-url', 'other-path', 'empty')

/** JSON that is anything but what the route expects. */
export const anyJson = fc.jsonValue({ maxDepth: 3 })

/** The real app with every optional surface on, and the checks each bad request must pass. */
export async function badInputSurface(t: Test) {
  const ctx = await buildTestApp(t, {
    startWorker: false,
    env: { SERIES_WEBHOOK_SECRET: SERIES_SECRET, ADMIN_TOKEN, INTERCOM_WORKSPACE_ID: 'abc123xy' },
  })
  const { app } = ctx
  const secrets = [ctx.twilio.authToken, ctx.intercom.token, ctx.intercom.clientSecret, SERIES_SECRET, ADMIN_TOKEN]
  const tables = (
    await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(app.store.db)
  ).rows.map((r) => r.name)
  t.ok(tables.includes('messages') && tables.includes('jobs') && tables.includes('webhook_receipts'), 'the tables to count exist', {
    tables,
  })
  const countRows = async () => {
    const select = tables.map((name) => `(select count(*) from "${name}") as "${name}"`).join(', ')
    const row = (await sql.raw<Record<string, number>>(`select ${select}`).execute(app.store.db)).rows[0]!
    return Object.fromEntries(tables.map((name) => [name, Number(row[name])]))
  }

  const twilioSign = (url: string, params: Record<string, unknown>, token = ctx.twilio.authToken) =>
    twilio.getExpectedTwilioSignature(token, url, params as Record<string, string>)
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
    const res = await app.inject({
      method: 'POST',
      url: req.url,
      headers: req.headers ?? {},
      ...(req.payload === undefined ? {} : { payload: req.payload }),
    })
    const what = `POST ${req.url} (${req.headers?.['content-type'] ?? 'no content type'})`
    if (!expect.status.includes(res.statusCode))
      throw new Error(`${what} answered ${res.statusCode}, expected ${expect.status.join(' or ')}: ${res.body.slice(0, 300)}`)
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
      if (logged.includes(p) || (digits(p).length >= 7 && logged.includes(digits(p))))
        throw new Error(`${what}: the phone number ${p} reached the logs:\n${logged}`)
    }
  }

  const check = async (name: string, property: Parameters<typeof fc.assert>[0], runs = RUNS) => {
    const started = Date.now()
    await fc.assert(property, { numRuns: runs, ...(SEED === undefined ? {} : { seed: SEED }) })
    t.pass(`${name} (${runs} runs, ${Date.now() - started} ms)`)
  }

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
  const intercomHeaders = (signature: string | undefined, contentType = 'application/json') => ({
    'content-type': contentType,
    ...(signature === undefined ? {} : { 'x-hub-signature': signature }),
  })

  /** Afterwards the process still serves real traffic, and the logs carry no secret. */
  const afterwards = () =>
    t.test('afterwards the process still serves real traffic, and the logs carry no secret', async (t) => {
      const ready = await app.inject({ method: 'GET', url: '/readyz' })
      t.equal(ready.statusCode, 200, 'ready')
      const form = inboundForm(ctx, { From: '+14155550999', Body: 'still there?' })
      const raw = new URLSearchParams(form).toString()
      const res = await app.inject({
        method: 'POST',
        url: '/twilio/sms',
        headers: formHeaders(twilioSign(`${PUBLIC_URL}/twilio/sms`, form)),
        payload: raw,
      })
      t.equal(res.statusCode, 200, 'a real text is still accepted')
      for (const secret of secrets) t.notOk(ctx.logs.text.includes(secret), 'no secret anywhere in the logs')
      t.notOk(ctx.logs.text.includes('4155550999'), 'nor the full number of the real text')
      t.notOk(
        ctx.logs.records().some((r) => Number(r.level) >= 50),
        'nothing logged as an error',
      )
    })

  return {
    ctx,
    app,
    secrets,
    tables,
    countRows,
    probe,
    check,
    twilioSign,
    signatureFor,
    formHeaders,
    encodePairs,
    notification,
    intercomHeaders,
    afterwards,
  }
}

/** JSON whose one string value carries bytes that are not UTF-8 (no contact, not a notification). */
export function invalidUtf8Json(key: string) {
  return fc
    .uint8Array({ minLength: 1, maxLength: 16 })
    .map((bytes) =>
      Buffer.concat([
        Buffer.from(`{"${key}":"`),
        Buffer.from([0xff, 0xc0, 0xed, 0xa0, 0x80]),
        Buffer.from(bytes.filter((b) => b !== 0x22 && b !== 0x5c && b >= 0x20)),
        Buffer.from('"}'),
      ]),
    )
}

/** Signs raw bytes as Intercom does (webhooks: sha1 with a prefix; Canvas Kit: sha256). */
export function hmac(algorithm: 'sha1' | 'sha256', secret: string, raw: string | Buffer, prefix = ''): string {
  return `${prefix}${createHmac(algorithm, secret).update(raw).digest('hex')}`
}

export function isJson(s: string): boolean {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

/** The phone numbers a generated body carries (what the arbitraries put in it). */
export function phonesIn(raw: string): string[] {
  return [...raw.matchAll(/\+1\d{10}|\+447\d{9}|(?<!\d)1\d{10}(?!\d)|\(\d{3}\) \d{3}-\d{4}/g)].map((m) => m[0])
}

/** What a request may have stored: texts, the jobs it caused, automated sends. */
export async function storedCount(app: FastifyInstance): Promise<number> {
  const rows = async (table: 'messages' | 'automated_sends') =>
    Number(
      (
        await app.store.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  return (await rows('messages')) + (await causedJobs(app)).length + (await rows('automated_sends'))
}
