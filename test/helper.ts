import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config } from '../server/config.js'
import type { BuildOptions } from '../server/server.js'
import { startService } from '../server/main.js'
import { tempDir, type Teardown } from './support/db.js'
import { LogCapture } from './support/logs.js'
import { TestClock } from './support/clock.js'
import { OUR_NUMBER, PUBLIC_URL, standInEnv } from '../sandbox/env.js'
import { signCanvas, signIntercomWebhook, startIntercomStandIn, type IntercomStandIn } from '../sandbox/intercom/index.js'
import { WORKSPACE } from '../sandbox/intercom/state.js'
import { signTwilio, startTwilioStandIn, type TwilioStandIn } from '../sandbox/twilio/index.js'

export { OUR_NUMBER, PUBLIC_URL }

export interface TestApp {
  app: FastifyInstance
  config: Config
  twilio: TwilioStandIn
  intercom: IntercomStandIn
  logs: LogCapture
}

export interface TestAppOptions {
  env?: Record<string, string>
  build?: BuildOptions
  /** Start the job worker (default true). */
  startWorker?: boolean
  /** Stand-ins to reuse (a second app, as after a restart), instead of new ones. */
  standIns?: Pick<TestApp, 'twilio' | 'intercom'>
}

/**
 * The real app on a fresh temporary database, wired through the *_API_BASE_URL settings to local
 * servers standing in for Twilio and Intercom. Everything is closed when the test ends.
 */
export async function buildTestApp(t: Teardown, options: TestAppOptions = {}): Promise<TestApp> {
  const twilio = options.standIns?.twilio ?? (await startTwilioStandIn())
  const intercom = options.standIns?.intercom ?? (await startIntercomStandIn())
  if (!options.standIns) {
    t.teardown(() => twilio.close())
    t.teardown(() => intercom.close())
  }
  const config = loadConfig(
    // The stand-in's workspace, named as a deployment names it: no GET /me at start unless a test
    // about learning it sets INTERCOM_WORKSPACE_ID to ''.
    { ...standInEnv(twilio, intercom, join(tempDir(t), 'bridge.db')), LOG_LEVEL: 'info', INTERCOM_WORKSPACE_ID: WORKSPACE, ...options.env },
    null,
  )
  const logs = new LogCapture()
  // Started as `npm start` starts it, the recurring jobs included, without a socket (tests inject).
  const app = await startService(config, {
    listen: false,
    startWorker: options.startWorker !== false,
    logDestination: logs,
    ...options.build,
    worker: { pollIntervalMs: 50, backoff: { baseMs: 20, maxMs: 500 }, ...options.build?.worker },
  })
  t.teardown(() => app.close())
  return { app, config, twilio, intercom, logs }
}

/**
 * The jobs every start queues (the catch-up on missed texts, the pruning, the checkpoint): always in
 * the queue, never work a test caused. Tests that count jobs leave them out.
 */
export const RECURRING_TASKS = ['inbound.catchup', 'maintenance.prune', 'maintenance.checkpoint']

/** The jobs a test's requests caused: every job but the recurring ones. */
export function causedJobs(app: FastifyInstance) {
  return app.store.db.selectFrom('jobs').selectAll().where('task', 'not in', RECURRING_TASKS).execute()
}

/**
 * Runs the app's worker until no job is due or running (`Worker.runUntilIdle`): jobs due within a
 * minute (a retry's backoff, a 429's reset) are waited for on the app's clock and run at their
 * time (a test clock is moved on to it); dead, long-delayed and recurring jobs stay. Never polls the table; fails naming the pending
 * jobs when they keep coming back, after a bounded number of rounds.
 */
export function drain(app: FastifyInstance): Promise<void> {
  const clock = app.bridge.clock
  const advance = clock instanceof TestClock ? (ms: number) => clock.advance(ms) : undefined
  return app.worker.runUntilIdle({ withinMs: 60_000, except: RECURRING_TASKS, advance })
}

let sidCounter = 0
/** A Twilio message sid, unique within the run. */
export function messageSid(prefix: 'SM' | 'MM' = 'SM'): string {
  return `${prefix}${(Date.now().toString(16) + (sidCounter++).toString(16).padStart(8, '0')).padStart(32, '0').slice(-32)}`
}

/** A real-shaped inbound SMS webhook form, as Twilio posts it. */
export function inboundForm(ctx: Pick<TestApp, 'twilio'>, fields: Record<string, string> = {}): Record<string, string> {
  return {
    ToCountry: 'US',
    ToState: 'CA',
    SmsMessageSid: fields.MessageSid ?? '',
    NumMedia: '0',
    ToCity: 'SAN FRANCISCO',
    FromZip: '94105',
    SmsSid: fields.MessageSid ?? '',
    FromState: 'CA',
    SmsStatus: 'received',
    FromCity: 'SAN FRANCISCO',
    Body: 'Hello',
    FromCountry: 'US',
    To: OUR_NUMBER,
    ToZip: '94105',
    NumSegments: '1',
    MessageSid: messageSid(),
    AccountSid: ctx.twilio.accountSid,
    From: '+14155550123',
    ApiVersion: '2010-04-01',
    ...fields,
  }
}

/** Posts a signed inbound SMS webhook exactly as Twilio would (unless told to sign otherwise). */
export async function postSms(
  ctx: Pick<TestApp, 'app' | 'twilio'>,
  form: Record<string, string>,
  opts: { signature?: string | null; path?: string } = {},
) {
  const path = opts.path ?? '/twilio/sms'
  const signature = opts.signature === undefined ? signTwilio(ctx.twilio.authToken, `${PUBLIC_URL}${path}`, form) : opts.signature
  return ctx.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
    payload: new URLSearchParams(form).toString(),
  })
}

/** Posts an Intercom webhook signed as Intercom signs it (unless told otherwise). */
export async function postIntercomWebhook(
  ctx: Pick<TestApp, 'app' | 'intercom'>,
  payload: unknown,
  opts: { signature?: string | null } = {},
) {
  const raw = JSON.stringify(payload)
  const signature = opts.signature === undefined ? signIntercomWebhook(ctx.intercom.clientSecret, raw) : opts.signature
  return ctx.app.inject({
    method: 'POST',
    url: '/intercom/webhooks',
    headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-hub-signature': signature }) },
    payload: raw,
  })
}

/** Posts a Canvas Kit request (initialize or submit) to `path`, signed as Intercom signs it. */
export async function postCanvas(ctx: Pick<TestApp, 'app' | 'intercom'>, path: string, body: unknown) {
  const raw = JSON.stringify(body)
  return ctx.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/json', 'x-body-signature': signCanvas(ctx.intercom.clientSecret, raw) },
    payload: raw,
  })
}

/** Posts a Twilio status callback, signed. */
export async function postStatus(ctx: Pick<TestApp, 'app' | 'twilio'>, fields: Record<string, string>) {
  const form = { AccountSid: ctx.twilio.accountSid, ApiVersion: '2010-04-01', SmsStatus: fields.MessageStatus ?? '', ...fields }
  return postSms(ctx, form, { path: '/twilio/status' })
}
