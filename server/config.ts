import { macroIdIn } from './bridge/templates.js'
import { existsSync, readFileSync } from 'node:fs'
import { parse as parseDotenv } from 'dotenv'
import { z } from 'zod'
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js'
import { parseMetricsListen } from './metrics-listener.js'
import { jsonSetting } from './json-setting.js'
import { senderIssuePlace, sendersProblems, sendersSetting } from './senders-config.js'

const INTERCOM_BASE_URLS = {
  us: 'https://api.intercom.io',
  eu: 'https://api.eu.intercom.io',
  au: 'https://api.au.intercom.io',
} as const

/** A template setting that starts with `macro:` must name a macro by its id ("macro:123"). */
const namesMacroWell = (v: string) => !v.trim().startsWith('macro:') || macroIdIn(v) !== null
const MACRO_REF_PROBLEM = 'expected macro:<id> (an Intercom macro id, such as macro:123) or the words of the text'

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional()

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'expected true or false' })
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v))

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number such as +14155550100')

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  PORT: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: httpUrl
    .describe('the externally visible base URL, e.g. https://sms-bridge.example.com')
    .transform((v) => v.replace(/\/+$/, '')),
  DATABASE_URL: z
    .string()
    .regex(/^(file:|libsql:\/\/|https?:\/\/|wss?:\/\/|:memory:)/, 'expected file:PATH, libsql://HOST or https://HOST')
    .default('file:./data/bridge.db'),
  DATABASE_AUTH_TOKEN: optionalString,
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'expected an Account SID: AC followed by 32 hex digits'),
  TWILIO_AUTH_TOKEN: z.string().min(1, 'required'),
  TWILIO_PHONE_NUMBER: optionalString.pipe(
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean),
      )
      .pipe(z.array(e164).min(1))
      .optional(),
  ),
  TWILIO_MESSAGING_SERVICE_SID: optionalString.pipe(
    z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, 'expected a Messaging Service SID: MG followed by 32 hex digits')
      .optional(),
  ),
  TWILIO_API_BASE_URL: optionalString.pipe(httpUrl.optional()),
  TWILIO_WEBHOOK_SHARED_KEYS: optionalString.pipe(
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean),
      )
      .pipe(
        z
          .array(z.string().min(16, 'expected secrets of at least 16 characters'))
          .min(1)
          .max(4, 'expected at most 4 secrets (a rotation needs 2)'),
      )
      .optional(),
  ),
  INTERCOM_ACCESS_TOKEN: z.string().min(1, 'required'),
  INTERCOM_CLIENT_SECRET: z.string().min(1, 'required'),
  INTERCOM_REGION: z.enum(['us', 'eu', 'au'], { error: 'expected us, eu or au' }).default('us'),
  INTERCOM_ADMIN_ID: optionalString,
  INTERCOM_API_BASE_URL: optionalString.pipe(httpUrl.optional()),
  DEFAULT_COUNTRY: optionalString.pipe(
    z
      .string()
      .transform((v) => v.toUpperCase())
      .refine((v) => isSupportedCountry(v), 'expected a two-letter country code such as US or GB')
      .optional(),
  ),
  SMS_TAG: z.string().trim().min(1).default('sms'),
  REOPEN_WINDOW_DAYS: z.coerce.number({ error: 'expected a number of days' }).min(0).default(5),
  RELAY_BOT_REPLIES: boolean.default(true),
  MARK_READ_AFTER_SMS: boolean.default(true),
  WELCOME_SMS_TEMPLATE: z.string().refine(namesMacroWell, MACRO_REF_PROBLEM).default(''),
  WELCOME_BRIDGE_CONTACTS: boolean.default(false),
  MATCH_USERS_BY_PHONE: boolean.default(true),
  SMS_CONSENT: z.enum(['implied', 'required'], { error: 'expected implied or required' }).default('implied'),
  OPT_OUT_SCOPE: z.enum(['all', 'marketing'], { error: 'expected all or marketing' }).default('all'),
  QUIET_HOURS: optionalString.pipe(
    z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'expected a window such as 21:00-08:00')
      .optional(),
  ),
  QUIET_HOURS_TIMEZONE: z
    .string()
    .refine((zone) => isTimeZone(zone), 'expected an IANA time zone such as America/New_York')
    .default('UTC'),
  SERIES_WEBHOOK_SECRET: optionalString.pipe(z.string().min(16, 'expected at least 16 characters').optional()),
  SMS_TEMPLATES: optionalString.pipe(
    jsonSetting('{"renewal":"Hi {{first_name|there}}, ..."}')
      .pipe(
        z.record(z.string().regex(/^[\w-]+$/), z.string().min(1).refine(namesMacroWell, MACRO_REF_PROBLEM), {
          error: 'expected an object of template names to texts',
        }),
      )
      .optional(),
  ),
  SENDERS: optionalString.pipe(sendersSetting.optional()),
  ADMIN_TOKEN: optionalString.pipe(z.string().min(16, 'expected at least 16 characters').optional()),
  METRICS_LISTEN: optionalString.pipe(
    z
      .string()
      .transform((v, ctx) => {
        const parsed = parseMetricsListen(v)
        if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed })
        return typeof parsed === 'string' ? z.NEVER : parsed
      })
      .optional(),
  ),
  INTERCOM_WORKSPACE_ID: optionalString.pipe(
    z
      .string()
      .regex(/^[\w-]{1,64}$/, 'expected a workspace id such as abc123xy')
      .optional(),
  ),
  SMS_ALLOWED_COUNTRIES: optionalString.pipe(
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((c) => c.trim().toUpperCase())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().refine((c) => isSupportedCountry(c), 'expected two-letter country codes such as US,CA,GB')).min(1))
      .optional(),
  ),
  CAP_TEXTS_PER_NUMBER_DAY: z.coerce.number({ error: 'expected a whole number' }).int().min(0).default(3),
  CAP_TEXTS_PER_CONTACT_DAY: z.coerce.number({ error: 'expected a whole number' }).int().min(0).default(5),
  CAP_CODES_PER_DAY: z.coerce.number({ error: 'expected a whole number' }).int().min(0).default(200),
  CAP_WELCOMES_PER_DAY: z.coerce.number({ error: 'expected a whole number' }).int().min(0).default(500),
  CAP_SUBMITS_PER_CONTACT_DAY: z.coerce.number({ error: 'expected a whole number' }).int().min(0).default(10),
  // Retired, not ignored: a deployment that set it would otherwise lose its limit without a word.
  CAP_TEXTS_PER_DAY: optionalString.pipe(
    z.undefined({
      error:
        'replaced by CAP_CODES_PER_DAY and CAP_WELCOMES_PER_DAY (codes and welcomes now have day budgets of their own): set those instead',
    }),
  ),
  // Moved into SENDERS before it was released; a start with it set stops and says where, so a
  // deployment of a main-branch build keeps its carrier limits instead of losing them without a word.
  SENDER_LIMITS: optionalString.pipe(
    z.undefined({
      error:
        'moved into SENDERS: put "rate" and "dailyCap" in the sender\'s entry there, e.g. SENDERS={"+14155550100":{"rate":1,"dailyCap":2000}}',
    }),
  ),
  BRAND_DAILY_CAP: z.coerce.number({ error: 'expected a whole number' }).int().min(0).default(0),
  CLIENT_IP_HEADER: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^([a-z0-9-]{1,64})?$/, 'expected a header name such as fly-client-ip, or empty for the connection address')
    .default(''),
  MESSAGE_RETENTION_DAYS: z.coerce.number({ error: 'expected a whole number of days' }).int().min(0).max(36500).default(90),
  JOB_LEASE_SECONDS: z.coerce.number({ error: 'expected a number of seconds' }).min(1).max(3600).default(60),
  WORKER_CONCURRENCY: z.coerce.number({ error: 'expected a whole number' }).int().min(1).max(64).optional(),
  INTERCOM_RATE_SHARE: z.coerce.number({ error: 'expected a number from 0.05 to 1' }).min(0.05).max(1).default(1),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace or silent',
    })
    .default('info'),
  LOG_FORMAT: z
    .enum(['json', 'pretty'], { error: 'expected json (one JSON object a line, for log collectors) or pretty (for reading in a terminal)' })
    .default('json'),
})

/** Rules across settings, checked on the raw values so they are reported with every other problem. */
function crossChecks(input: Env): string[] {
  const problems: string[] = []
  if (!input.TWILIO_PHONE_NUMBER?.trim() && !input.TWILIO_MESSAGING_SERVICE_SID?.trim()) {
    problems.push('TWILIO_PHONE_NUMBER is required: set your Twilio number(s) in E.164, comma separated, or TWILIO_MESSAGING_SERVICE_SID')
  }
  problems.push(...sendersProblems(input))
  // Twilio and Intercom call PUBLIC_URL from the internet, and sign what they send over it: https,
  // except a localhost address while developing (the demo, a tunnel's local end).
  const publicUrl = URL.parse(input.PUBLIC_URL?.trim() ?? '')
  const local = publicUrl && LOOPBACK_HOST.test(publicUrl.hostname)
  if (publicUrl?.protocol === 'http:' && !(local && ['development', 'test'].includes(input.NODE_ENV ?? ''))) {
    problems.push('PUBLIC_URL is invalid: expected an https URL (plain http only for localhost with NODE_ENV=development)')
  }
  const db = input.DATABASE_URL ?? ''
  const dbUrl = isRemoteDatabase(db) ? URL.parse(db) : null
  const dbLocal = dbUrl !== null && LOOPBACK_HOST.test(dbUrl.hostname)
  if (dbUrl && !input.DATABASE_AUTH_TOKEN?.trim() && !dbLocal) {
    problems.push('DATABASE_AUTH_TOKEN is required: a remote (Turso) DATABASE_URL needs its auth token')
  }
  // @libsql/client takes any tls= but 1 as "no TLS". Without TLS the auth token and every stored text cross the network readable by anyone on the path.
  if (dbUrl && !dbLocal && (/^(http|ws):$/.test(dbUrl.protocol) || (dbUrl.searchParams.get('tls') ?? '1') !== '1')) {
    problems.push(
      'DATABASE_URL is invalid: a remote database must be reached over TLS (libsql://, https:// or wss://, without tls=0); plain http:// or ws:// only for 127.0.0.1, localhost or [::1]',
    )
  }
  return problems
}

/** Hosts that never leave the machine: plain http is allowed to them. */
const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/

/** A libSQL server over the network (Turso), not the embedded file. */
function isRemoteDatabase(url: string): boolean {
  return /^(libsql|https?|wss?):/.test(url)
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** The countries of our own numbers (and DEFAULT_COUNTRY); US when neither says (a Messaging Service alone). */
function ownCountries(numbers: string[], defaultCountry: CountryCode | undefined): string[] {
  const countries = new Set(numbers.map((n) => parsePhoneNumberFromString(n)?.country).filter((c): c is CountryCode => Boolean(c)))
  if (defaultCountry) countries.add(defaultCountry)
  return countries.size > 0 ? [...countries] : ['US']
}

export type Config = ReturnType<typeof toConfig>

function toConfig(env: z.output<typeof schema>) {
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    publicUrl: env.PUBLIC_URL,
    database: { url: env.DATABASE_URL, authToken: env.DATABASE_AUTH_TOKEN },
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      phoneNumbers: env.TWILIO_PHONE_NUMBER ?? [],
      messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID,
      apiBaseUrl: env.TWILIO_API_BASE_URL,
      // What Twilio's webhooks may be signed with: the auth token, or (Webhooks API) a shared key.
      webhookSecrets: { authToken: env.TWILIO_AUTH_TOKEN, sharedKeys: env.TWILIO_WEBHOOK_SHARED_KEYS ?? [] },
    },
    intercom: {
      accessToken: env.INTERCOM_ACCESS_TOKEN,
      clientSecret: env.INTERCOM_CLIENT_SECRET,
      region: env.INTERCOM_REGION,
      adminId: env.INTERCOM_ADMIN_ID,
      apiBaseUrl: env.INTERCOM_API_BASE_URL ?? INTERCOM_BASE_URLS[env.INTERCOM_REGION],
      rateShare: env.INTERCOM_RATE_SHARE,
    },
    defaultCountry: env.DEFAULT_COUNTRY,
    smsTag: env.SMS_TAG,
    reopenWindowDays: env.REOPEN_WINDOW_DAYS,
    relayBotReplies: env.RELAY_BOT_REPLIES,
    markReadAfterSms: env.MARK_READ_AFTER_SMS,
    // A job on a remote database mostly waits for the network (each request a round trip): more of
    // them at once keep the drain going (at 20 ms from the database, 25 texts/s with 4, 53 with 16).
    workerConcurrency: env.WORKER_CONCURRENCY ?? (isRemoteDatabase(env.DATABASE_URL) ? 16 : 4),
    jobLeaseMs: env.JOB_LEASE_SECONDS * 1000,
    welcome: { template: env.WELCOME_SMS_TEMPLATE.trim(), includeBridgeContacts: env.WELCOME_BRIDGE_CONTACTS },
    // A user's phone is the team's data (users come from the team's systems); a lead's is the visitor's word.
    matchUsersByPhone: env.MATCH_USERS_BY_PHONE,
    consentMode: env.SMS_CONSENT,
    // What an opt-out stops until the FCC's revoke-all applies (2027-01-31); everything from then on.
    optOutScope: env.OPT_OUT_SCOPE,
    quietHours: env.QUIET_HOURS ? { window: env.QUIET_HOURS, timeZone: env.QUIET_HOURS_TIMEZONE } : null,
    seriesSecret: env.SERIES_WEBHOOK_SECRET,
    adminToken: env.ADMIN_TOKEN,
    metricsListen: env.METRICS_LISTEN ?? null,
    workspaceId: env.INTERCOM_WORKSPACE_ID,
    // Texts an outsider can cause go only to these countries: by default, those of our own numbers.
    allowedCountries: new Set<string>(env.SMS_ALLOWED_COUNTRIES ?? ownCountries(env.TWILIO_PHONE_NUMBER ?? [], env.DEFAULT_COUNTRY)),
    caps: {
      perNumber: env.CAP_TEXTS_PER_NUMBER_DAY,
      perContact: env.CAP_TEXTS_PER_CONTACT_DAY,
      codesPerDay: env.CAP_CODES_PER_DAY,
      welcomesPerDay: env.CAP_WELCOMES_PER_DAY,
      submitsPerContact: env.CAP_SUBMITS_PER_CONTACT_DAY,
    },
    brandDailyCap: env.BRAND_DAILY_CAP > 0 ? env.BRAND_DAILY_CAP : null,
    clientIpHeader: env.CLIENT_IP_HEADER || null,
    // 0 keeps texts' words for ever. The conversation in Intercom is the record; the bridge's copy
    // only needs to outlive the questions a text raises (a failed delivery, a dispute over a STOP).
    messageRetentionMs: env.MESSAGE_RETENTION_DAYS > 0 ? env.MESSAGE_RETENTION_DAYS * 86_400_000 : null,
    // A Map: a template named __proto__ or toString is an own entry, never a property of every object.
    templates: new Map(Object.entries(env.SMS_TEMPLATES ?? {})),
    // Per-number settings (server/bridge/senders.ts; a sender's rate and daily cap only through
    // pacing.ts senderLimits), keyed by our number or the Messaging Service SID. A Map, so a key such
    // as __proto__ is an entry.
    senders: new Map(Object.entries(env.SENDERS ?? {})),
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT,
  }
}

export class ConfigError extends Error {
  /** `dotenvFound`: whether a .env file was read; without one, the first line says how to make it. */
  constructor(
    readonly problems: string[],
    dotenvFound = true,
  ) {
    const where = dotenvFound
      ? 'Invalid configuration (settings are read from .env and the environment):'
      : 'Invalid configuration. Settings go in a .env file in this folder (cp .env.example .env, then fill it in) or in the environment:'
    super(`${where}\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/**
 * Reads settings from the environment, with an optional `.env` file underneath it (real environment
 * variables win). Every problem is reported at once; secret values are never part of a message.
 */
export function loadConfig(env: Env = process.env, dotenvPath: string | null = '.env'): Config {
  const dotenvFound = Boolean(dotenvPath && existsSync(dotenvPath))
  const merged: Env = { ...(dotenvFound ? parseDotenv(readFileSync(dotenvPath!)) : {}), ...env }
  const input: Env = {}
  for (const key of Object.keys(schema.shape)) input[key] = merged[key]
  const result = schema.safeParse(input)
  const crossProblems = crossChecks(input)
  if (!result.success || crossProblems.length > 0) {
    const problems = (result.error?.issues ?? []).map((issue) => {
      const name = String(issue.path[0] ?? 'settings')
      const missing = input[name] === undefined || input[name] === ''
      // Messages come from the schema or from SETTINGS; neither ever contains the value given.
      if (missing && issue.code !== 'custom') return `${name} is required: ${SETTINGS[name as SettingName]}`
      const place = name === 'SENDERS' ? senderIssuePlace(issue.path) : ''
      return `${name} ${missing ? 'is required' : 'is invalid'}: ${issue.message}${place}`
    })
    throw new ConfigError([...new Set([...problems, ...crossProblems])], dotenvFound)
  }
  return toConfig(result.data)
}

type SettingName = keyof typeof schema.shape

/** What each setting means; the README's settings table says the same. */
export const SETTINGS: Record<SettingName, string> = {
  NODE_ENV: 'production (default), development or test',
  PORT: 'the port to listen on (default 3000)',
  HOST: 'the address to listen on (default 0.0.0.0)',
  PUBLIC_URL:
    'the externally visible https base URL, e.g. https://sms-bridge.example.com (plain http only for localhost with NODE_ENV=development)',
  DATABASE_URL: 'file:PATH for the embedded database (default file:./data/bridge.db) or libsql://HOST for Turso',
  DATABASE_AUTH_TOKEN: 'the Turso auth token (remote databases only)',
  TWILIO_ACCOUNT_SID: 'your Twilio Account SID (AC followed by 32 hex digits)',
  TWILIO_AUTH_TOKEN: 'your Twilio auth token',
  TWILIO_PHONE_NUMBER: 'your Twilio number(s) in E.164, comma separated',
  TWILIO_MESSAGING_SERVICE_SID: 'a Twilio Messaging Service SID (MG...) to send through instead of a number',
  TWILIO_API_BASE_URL: 'override of https://api.twilio.com (tests, proxies)',
  TWILIO_WEBHOOK_SHARED_KEYS:
    'the secret(s) of the shared key(s) Twilio signs webhooks with, when a Webhooks API rule makes it sign with a SharedKey (HMAC-SHA256) instead of the auth token; comma separated, so old and new are both accepted during a rotation (unset: only the auth token signs)',
  INTERCOM_ACCESS_TOKEN: 'the access token of your Intercom app',
  INTERCOM_CLIENT_SECRET: 'the client secret of your Intercom app (signs webhooks and Canvas Kit requests)',
  INTERCOM_REGION: 'us (default), eu or au: where your Intercom workspace is hosted',
  INTERCOM_ADMIN_ID: 'the admin that notes and tags are made as (default: the token owner, from GET /me)',
  INTERCOM_API_BASE_URL: 'override of the regional Intercom API URL (tests, proxies)',
  DEFAULT_COUNTRY: 'two-letter country for numbers written without a country code, e.g. US',
  SMS_TAG: 'the tag put on conversations opened by an inbound text (default sms)',
  REOPEN_WINDOW_DAYS: 'days after closing during which a new text reopens the same conversation (default 5)',
  RELAY_BOT_REPLIES: 'whether bot (Fin) replies are texted too (default true)',
  MARK_READ_AFTER_SMS:
    'whether a conversation is marked read once a reply went out by text, so Intercom does not also email it (default true)',
  WELCOME_SMS_TEMPLATE:
    'text sent once to every new contact with a mobile number, e.g. "Hi {{first_name|there}}, ..." or an Intercom macro as macro:<id> (empty: off)',
  WELCOME_BRIDGE_CONTACTS: 'whether contacts the bridge created from an inbound text get the welcome text too (default false)',
  MATCH_USERS_BY_PHONE:
    "whether a user's phone counts as the team's data: a text from it threads to that user, and automated texts may go to it (default true; false when your Messenger lets visitors identify themselves without identity verification). A lead's phone never counts",
  SMS_CONSENT:
    "implied (default: anyone who has not opted out) or required (automated texts only to contacts with Intercom's sms_consent, or sms_bridge_consent, true)",
  OPT_OUT_SCOPE:
    "what an opt-out stops: all (default: every automated text) or marketing (welcome and Series texts only; transactional texts such as a reply-by-text confirmation still go). Until 2027-01-31 only: from that date the FCC's revoke-all rule applies, marketing is ignored with a warning and an opt-out stops every automated text. Teammates' replies are refused after an opt-out either way",
  QUIET_HOURS: 'a window such as 21:00-08:00 when automated texts wait (agent replies never do)',
  QUIET_HOURS_TIMEZONE: "time zone for quiet hours when the contact's is unknown (default UTC)",
  SERIES_WEBHOOK_SECRET: 'shared secret Intercom Series sends in the X-Bridge-Secret header (unset: /intercom/series is off)',
  SMS_TEMPLATES:
    'named templates for Series, as JSON: {"renewal":"Hi {{first_name|there}}, ..."}; a value may name an Intercom macro instead, as macro:<id>',
  SENDERS:
    'per-number settings as JSON, keyed by our number in E.164 or the Messaging Service SID: {"+14155550100":{"tag":"sales","team":"123","teammate":"456","countries":["US"],"rate":1,"dailyCap":2000}}. A text to that number opens a conversation with that tag (besides SMS_TAG), assigned to that team and/or teammate; a customer the bridge has never texted, in one of the countries, is texted first from that number. Every customer keeps the number they last used or were last texted from while it is configured. Automated and bulk texts from it go at most `rate` a second (default: Twilio\'s rate for the sender\'s type) and `dailyCap` a carrier day (default: no cap); teammates\' replies and codes are never paced (default unset)',
  ADMIN_TOKEN: 'bearer token for GET /metrics and the /admin API (unset: both are off)',
  METRICS_LISTEN:
    "a second listener serving GET /metrics without a token, on a private or loopback address only, e.g. 127.0.0.1:9091 or fly-local-6pn:9091 for fly.io's scraper (default unset: off); a public or wildcard address is refused",
  INTERCOM_WORKSPACE_ID:
    'your Intercom workspace id; Canvas Kit requests from any other workspace are refused (default: asked from GET /me once, cached)',
  SMS_ALLOWED_COUNTRIES:
    'countries that texts an outsider can cause (verification codes, confirmations, welcomes) may go to, e.g. US,CA (default: the countries of TWILIO_PHONE_NUMBER, else DEFAULT_COUNTRY, else US)',
  CAP_TEXTS_PER_NUMBER_DAY:
    "at most this many outsider-caused texts to one number per UTC day (default 3); teammates' replies are never capped",
  CAP_TEXTS_PER_CONTACT_DAY: 'at most this many outsider-caused texts to one contact per UTC day (default 5)',
  CAP_CODES_PER_DAY:
    'at most this many verification codes in all per UTC day (default 200): a budget of their own, so throwaway visitors cannot use up the welcomes',
  CAP_WELCOMES_PER_DAY:
    'at most this many welcome and Messenger confirmation texts in all per UTC day (default 500); one refused by this cap waits for the next UTC day',
  CAP_SUBMITS_PER_CONTACT_DAY:
    'at most this many "Text me" submits from one Messenger contact per UTC day, whatever number each names (default 10)',
  CAP_TEXTS_PER_DAY: 'retired: set CAP_CODES_PER_DAY and CAP_WELCOMES_PER_DAY instead (a start with it set stops and says so)',
  SENDER_LIMITS: 'moved into SENDERS ("rate" and "dailyCap" in a sender\'s entry): a start with it set stops and says so',
  BRAND_DAILY_CAP:
    "at most this many automated and bulk texts from all senders together per carrier day, midnight to midnight Pacific time (T-Mobile caps a brand's texts per day; default 0: off)",
  CLIENT_IP_HEADER:
    "the header the proxy in front sets to the client address, used for rate limits (default empty: the connection address; fly.toml sets fly-client-ip, which fly.io's proxy overwrites). Only behind a proxy that overwrites it: elsewhere a client writes it, and every new value resets its limits",
  MESSAGE_RETENTION_DAYS:
    "days after which the words and media links of a text (and of a welcome or Series text) are removed from the bridge's database (default 90; 0 keeps them for ever). Numbers, MessageSids and statuses stay while the contact's link does: `sms-bridge erase` removes them",
  JOB_LEASE_SECONDS: 'how long a job belongs to a process that stops answering, before another takes it over (default 60)',
  WORKER_CONCURRENCY:
    'jobs run at once by this process (default 4 on the embedded file; 16 on a remote database, where a job mostly waits for the network)',
  INTERCOM_RATE_SHARE:
    "the share of the Intercom app's rate limit (learned from Intercom's answers) the bridge may use, 0.05 to 1 (default 1); lower it when other apps share the workspace's limit. A tenth of each 10-second window may go at once, the rest is spread evenly over it, a teammate's reply first",
  LOG_LEVEL: 'fatal, error, warn, info (default), debug, trace or silent',
  LOG_FORMAT:
    'json (default: one JSON object a line, for fly.io and log collectors) or pretty (coloured and readable, for a terminal: a line for each record, then its fields on the lines below it)',
}

export type { SettingName }

/** Every setting the service reads, in the order the schema lists them. */
export const SETTING_NAMES = Object.keys(schema.shape) as SettingName[]

/** Settings `npm start` cannot do without (one of the two Twilio senders is enough). */
export const REQUIRED_SETTINGS: readonly SettingName[] = [
  'PUBLIC_URL',
  'TWILIO_ACCOUNT_SID',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_PHONE_NUMBER',
  'INTERCOM_ACCESS_TOKEN',
  'INTERCOM_CLIENT_SECRET',
]

/** A setting's default as it would be written in a .env file; '' when it has none. */
export function settingDefault(name: SettingName): string {
  const parsed = schema.shape[name].safeParse(undefined)
  if (!parsed.success || parsed.data === undefined) return ''
  return typeof parsed.data === 'object' ? JSON.stringify(parsed.data) : String(parsed.data)
}
