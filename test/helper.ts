import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config } from '../server/config.js'
import { buildServer, type BuildOptions } from '../server/server.js'
import { tempDir, type Teardown } from './support/db.js'
import { LogCapture } from './support/logs.js'
import { startIntercomStandIn, type IntercomStandIn } from './support/fake-intercom.js'
import { startTwilioStandIn, type TwilioStandIn } from './support/fake-twilio.js'

export const PUBLIC_URL = 'https://sms-bridge.example.com'
export const OUR_NUMBER = '+14155550100'

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
}

/**
 * The real app on a fresh temporary database, wired through the *_API_BASE_URL settings to local
 * servers standing in for Twilio and Intercom. Everything is closed when the test ends.
 */
export async function buildTestApp(t: Teardown, options: TestAppOptions = {}): Promise<TestApp> {
  const twilio = await startTwilioStandIn()
  t.teardown(() => twilio.close())
  const intercom = await startIntercomStandIn()
  t.teardown(() => intercom.close())
  const config = loadConfig(
    {
      PUBLIC_URL,
      DATABASE_URL: `file:${join(tempDir(t), 'bridge.db')}`,
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_AUTH_TOKEN: twilio.authToken,
      TWILIO_PHONE_NUMBER: OUR_NUMBER,
      TWILIO_API_BASE_URL: twilio.url,
      INTERCOM_ACCESS_TOKEN: intercom.token,
      INTERCOM_CLIENT_SECRET: intercom.clientSecret,
      INTERCOM_API_BASE_URL: intercom.url,
      LOG_LEVEL: 'info',
      ...options.env,
    },
    null,
  )
  const logs = new LogCapture()
  const app = await buildServer(config, {
    logDestination: logs,
    ...options.build,
    worker: { pollIntervalMs: 50, backoff: { baseMs: 20, maxMs: 500 }, ...options.build?.worker },
  })
  t.teardown(() => app.close())
  await app.ready()
  if (options.startWorker !== false) app.worker.start()
  return { app, config, twilio, intercom, logs }
}
