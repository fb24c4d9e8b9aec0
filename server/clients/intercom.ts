import { IntercomClient } from 'intercom-client'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'

/** The Intercom API version every request pins; the bridge is written against it. */
export const INTERCOM_API_VERSION = '2.14'

/** The official SDK with its retries off: the job queue owns retries (and waits out 429 resets). */
export function createIntercomClient(config: Config['intercom'], metrics?: Metrics): IntercomClient {
  return new IntercomClient({
    ...(metrics ? { fetch: metrics.instrumentedFetch('intercom') } : {}),
    token: config.accessToken,
    baseUrl: config.apiBaseUrl,
    version: INTERCOM_API_VERSION,
    maxRetries: 0,
    timeoutInSeconds: 10,
  })
}
