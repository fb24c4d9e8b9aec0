import twilio from 'twilio'
import type { Config } from '../config.js'

export type TwilioClient = ReturnType<typeof twilio>

/**
 * The official client, with its own retries off: the job queue retries, with backoff that survives
 * restarts, and knows which failures must not be retried (a create is not idempotent).
 */
export function createTwilioClient(config: Config['twilio']): TwilioClient {
  const client = twilio(config.accountSid, config.authToken, { autoRetry: false, timeout: 10_000 })
  if (config.apiBaseUrl) client.api.baseUrl = config.apiBaseUrl
  return client
}
