import twilio from 'twilio'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'

export type TwilioClient = ReturnType<typeof twilio>

/**
 * The official client, with its own retries off: the job queue retries, with backoff that survives
 * restarts, and knows which failures must not be retried (a create is not idempotent).
 */
export function createTwilioClient(config: Config['twilio'], metrics?: Metrics): TwilioClient {
  const client = twilio(config.accountSid, config.authToken, { autoRetry: false, timeout: 10_000 })
  if (config.apiBaseUrl) {
    client.api.baseUrl = config.apiBaseUrl
    client.messaging.baseUrl = config.apiBaseUrl
  }
  if (metrics) {
    const http = client.httpClient
    const request = http.request.bind(http)
    http.request = async (opts) => {
      const started = performance.now()
      try {
        const res = await request(opts)
        metrics.observeApi('twilio', res.statusCode, (performance.now() - started) / 1000)
        return res
      } catch (err) {
        metrics.observeApi('twilio', 0, (performance.now() - started) / 1000, err)
        throw err
      }
    }
  }
  return client
}
