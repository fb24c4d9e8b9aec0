import { IntercomClient } from 'intercom-client'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { connectionFailure } from './reachability.js'

/** The Intercom API version every request pins; the bridge is written against it. */
export const INTERCOM_API_VERSION = '2.14'

/** The official SDK with its retries off: the job queue owns retries (and waits out 429 resets). */
export function createIntercomClient(config: Config['intercom'], metrics?: Metrics): IntercomClient {
  const base = sayWhichConnectionFailed(fetch)
  return new IntercomClient({
    fetch: metrics ? metrics.instrumentedFetch('intercom', base) : base,
    token: config.accessToken,
    baseUrl: config.apiBaseUrl,
    version: INTERCOM_API_VERSION,
    maxRetries: 0,
    timeoutInSeconds: 10,
  })
}

/**
 * The SDK keeps only the message of a failed fetch ("fetch failed"), dropping the cause that says
 * what failed. A failed connection is thrown again with the code and host in its message, as Node's
 * own errors word it ("connect ECONNREFUSED 127.0.0.1:9"), so logs and `doctor` can name them.
 */
export function sayWhichConnectionFailed(base: typeof fetch): typeof fetch {
  return async (input, init) => {
    try {
      return await base(input, init)
    } catch (err) {
      const failure = connectionFailure(err)
      if (failure && err instanceof Error) throw new TypeError(`${err.message}: connect ${failure.code} ${failure.host}`, { cause: err })
      throw err
    }
  }
}
