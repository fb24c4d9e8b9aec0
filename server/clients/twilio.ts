import twilio from 'twilio'
import type { MessageInstance } from 'twilio/lib/rest/api/v2010/account/message.js'
import type { MediaItem, TwilioStatus } from '../../shared/db/schema.js'
import { UpstreamError } from '../../shared/errors.js'
import { TWILIO_ERRORS } from '../../shared/twilio-errors.js'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { openDownload, type Download } from './download.js'
import { apiHost, networkCode } from './reachability.js'

export type TwilioClient = ReturnType<typeof twilio>

/**
 * The official client, with its own retries off: the job queue retries, with backoff that survives
 * restarts, and knows which failures must not be retried (a create is not idempotent).
 */
export function createTwilioClient(
  config: Pick<Config['twilio'], 'accountSid' | 'authToken' | 'apiBaseUrl'>,
  metrics?: Metrics,
): TwilioClient {
  const client = twilio(config.accountSid, config.authToken, { autoRetry: false, timeout: 10_000 })
  if (config.apiBaseUrl) {
    client.api.baseUrl = config.apiBaseUrl
    client.messaging.baseUrl = config.apiBaseUrl
    client.pricing.baseUrl = config.apiBaseUrl
  }
  if (metrics) {
    const http = client.httpClient
    const request = http.request.bind(http)
    http.request = (opts) =>
      metrics.timeApi(
        'twilio',
        () => request(opts),
        (res) => res.statusCode,
      )
  }
  return client
}

/** Where the SDK's answers come from, as the outage lines and `doctor` name it. */
export function twilioHost(config: Pick<Config['twilio'], 'apiBaseUrl'>): string {
  return apiHost(config.apiBaseUrl ?? 'https://api.twilio.com')
}

/**
 * Classifies a Twilio failure (the SDK's RestException, or no answer at all) for the job layer: a
 * 429 waits, no answer / a 5xx / an error code Twilio calls temporary retries, anything else Twilio
 * refused for good. `host` (see `twilioHost`) is named when nothing answered.
 */
export function twilioFailure(err: unknown, what: string, host: string): UpstreamError {
  if (err instanceof UpstreamError) return err
  if (!(err instanceof twilio.RestException)) {
    // axios (under the SDK) carries Node's code, or ECONNABORTED for its own timeout.
    const code = networkCode(err)
    const why = code ? `${code} at ${host}` : `${(err as Error)?.message ?? err}`
    return new UpstreamError('twilio', 'retry', `Twilio could not be reached to ${what}: ${why}`, {
      ...(code ? { unreachable: { code, host } } : {}),
      cause: err,
    })
  }
  const { status, code } = err
  if (status === 429 || code === 20429)
    return new UpstreamError('twilio', 'wait', `Twilio asked us to slow down while trying to ${what}`, {
      status,
      code,
      waitMs: 5_000,
      cause: err,
    })
  const known = code ? TWILIO_ERRORS[code] : undefined
  if (status >= 500 || known?.permanent === false) {
    return new UpstreamError('twilio', 'retry', `Twilio answered ${status}${code ? ` (error ${code})` : ''} while trying to ${what}`, {
      status,
      code,
      cause: err,
    })
  }
  return new UpstreamError('twilio', 'give_up', `Twilio refused to ${what} (${status}${code ? `, error ${code}` : ''}): ${err.message}`, {
    status,
    code,
    cause: err,
  })
}

/**
 * A text to send: to a customer, from our number or through the Messaging Service, which picks a
 * sender from its pool unless told which of them (`number`, as Twilio's `From` beside the service).
 */
export interface OutgoingText {
  to: string
  from: { number: string } | { messagingServiceSid: string; number?: string | null }
  body: string
  mediaUrls: string[]
}

/** What Twilio said of a text it accepted. */
export interface Accepted {
  sid: string
  status: TwilioStatus
  numSegments: number | null
}

/** What became of a redaction: done (or nothing left to redact), or refused with Twilio's reason. */
export type RedactOutcome = { ok: true; gone: boolean } | { ok: false; code: number | null; message: string }

export type SendOutcome = ({ ok: true } & Accepted) | { ok: false; code: number | null; message: string }

/** What sending one SMS to a country costs, from Twilio's Pricing API, per sender number type. */
export interface MessagingPrices {
  /** ISO 4217, as Twilio gives it (e.g. USD). */
  priceUnit: string
  /**
   * Number type as Twilio names it ("local", "mobile", "toll free", "shortcode"...) -> price of one
   * segment as a decimal string: the highest of the country's carriers (we do not know the
   * recipient's carrier; the estimate should not come in under the bill).
   */
  outbound: Record<string, string>
}

/** Twilio's OutboundSmsPrice list folded per number type: the highest current price of any carrier. */
function highestPerNumberType(carriers: Array<{ prices?: unknown }>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const carrier of carriers) {
    for (const p of Array.isArray(carrier.prices) ? (carrier.prices as Array<Record<string, unknown>>) : []) {
      // The SDK hands the inner rows over as Twilio sent them (snake_case, prices as decimal strings),
      // whatever its types say; the camelCase names are read too, should a release convert them.
      const current = p.current_price ?? p.currentPrice
      const type = p.number_type ?? p.numberType
      const price = typeof current === 'number' || typeof current === 'string' ? String(current) : ''
      if (typeof type !== 'string' || !/^\d+(\.\d+)?$/.test(price)) continue
      const before = out[type]
      if (before === undefined || Number(price) > Number(before)) out[type] = price
    }
  }
  return out
}

/** A message in Twilio's log, as the bridge reads it. */
export interface LoggedText extends Accepted {
  from: string
  to: string
  body: string
  direction: string
  messagingServiceSid: string | null
  numMedia: number
  /** When Twilio sent or received it. */
  at: Date
  createdAt: Date
}

function logged(m: MessageInstance): LoggedText {
  return {
    sid: m.sid,
    status: m.status,
    numSegments: Number(m.numSegments) || null,
    from: m.from,
    to: m.to,
    body: m.body ?? '',
    direction: m.direction,
    messagingServiceSid: m.messagingServiceSid ?? null,
    numMedia: Number(m.numMedia) || 0,
    at: m.dateSent ?? m.dateCreated,
    createdAt: m.dateCreated,
  }
}

/**
 * The Twilio adapter: every call the bridge makes to Twilio's REST API, each failure classified (see
 * `twilioFailure`). Sending answers whether Twilio accepted or refused the text; anything that
 * leaves it open (no answer, a 5xx, a 429) is thrown for the job layer to retry.
 */
export class TwilioApi {
  constructor(
    readonly sdk: TwilioClient,
    private readonly config: Pick<Config['twilio'], 'accountSid' | 'authToken' | 'apiBaseUrl'>,
    /** Where Twilio posts every sent text's delivery status (PUBLIC_URL/twilio/status). */
    private readonly statusCallback: string,
    /** Times and counts the downloads as the SDK's calls are (see createTwilioClient). */
    private readonly metrics?: Metrics,
  ) {}

  private async call<T>(what: string, fn: () => Promise<T>, host = twilioHost(this.config)): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw twilioFailure(err, what, host)
    }
  }

  /**
   * What an SMS to this country costs (GET pricing.twilio.com/v1/Messaging/Countries/{IsoCountry}),
   * or null when Twilio has no prices for it (404). Any other failure is thrown, classified.
   */
  async messagingPrices(isoCountry: string): Promise<MessagingPrices | null> {
    const host = apiHost(this.config.apiBaseUrl ?? 'https://pricing.twilio.com')
    try {
      const country = await this.call('read messaging prices', () => this.sdk.pricing.v1.messaging.countries(isoCountry).fetch(), host)
      return { priceUnit: country.priceUnit, outbound: highestPerNumberType(country.outboundSmsPrices ?? []) }
    } catch (err) {
      if (err instanceof UpstreamError && err.status === 404) return null
      throw err
    }
  }

  async send(text: OutgoingText): Promise<SendOutcome> {
    try {
      const message = await this.sdk.messages.create({
        to: text.to,
        ...('messagingServiceSid' in text.from ? { messagingServiceSid: text.from.messagingServiceSid } : {}),
        ...(text.from.number ? { from: text.from.number } : {}),
        ...(text.body ? { body: text.body } : {}),
        ...(text.mediaUrls.length ? { mediaUrl: text.mediaUrls } : {}),
        statusCallback: this.statusCallback,
      })
      return { ok: true, sid: message.sid, status: message.status, numSegments: Number(message.numSegments) || null }
    } catch (err) {
      const failure = twilioFailure(err, 'send the text', twilioHost(this.config))
      if (failure.outcome !== 'give_up') throw failure
      const cause = failure.cause as InstanceType<typeof twilio.RestException>
      return { ok: false, code: cause.code ?? null, message: cause.message || 'refused' }
    }
  }

  /**
   * Blanks a message's body in Twilio's log (POST Messages/{Sid}.json with an empty Body). A message
   * Twilio no longer has is nothing left to redact. Twilio refuses a message not yet final (still on
   * its way, or waiting for the carrier's receipt): that refusal is an answer, for the caller to wait.
   */
  async redact(sid: string): Promise<RedactOutcome> {
    try {
      await this.sdk.messages(sid).update({ body: '' })
      return { ok: true, gone: false }
    } catch (err) {
      const failure = twilioFailure(err, 'redact a text', twilioHost(this.config))
      if (failure.outcome !== 'give_up') throw failure
      const cause = failure.cause as InstanceType<typeof twilio.RestException>
      if (cause.status === 404) return { ok: true, gone: true }
      return { ok: false, code: cause.code ?? null, message: cause.message || 'refused' }
    }
  }

  /** The newest texts to this number in Twilio's log (to see whether an earlier attempt reached it). */
  async recentTextsTo(to: string, limit = 50): Promise<LoggedText[]> {
    return (await this.call('look for an earlier attempt in the message log', () => this.sdk.messages.list({ to, limit }))).map(logged)
  }

  /** Texts in Twilio's log since `since`, to one of our numbers (or to any, without `to`). */
  async textsSince(since: Date, to?: string): Promise<LoggedText[]> {
    return (
      await this.call('list recent texts', () => this.sdk.messages.list({ ...(to ? { to } : {}), dateSentAfter: since, limit: 1000 }))
    ).map(logged)
  }

  /** The account's numbers (GET IncomingPhoneNumbers.json), for `doctor`. */
  async accountNumbers(): Promise<string[]> {
    const numbers = await this.call("list the account's numbers", () => this.sdk.incomingPhoneNumbers.list({ limit: 1000 }))
    return numbers.map((n) => n.phoneNumber)
  }

  /** The numbers in a Messaging Service's sender pool (GET messaging v1 Services/{sid}/PhoneNumbers), for `doctor`. */
  async serviceNumbers(serviceSid: string): Promise<string[]> {
    const numbers = await this.call("list the Messaging Service's numbers", () =>
      this.sdk.messaging.v1.services(serviceSid).phoneNumbers.list({ limit: 1000 }),
    )
    return numbers.map((n) => n.phoneNumber)
  }

  /** A message's pictures and files: where to fetch each (with our credentials) and its type. */
  async mediaOf(sid: string): Promise<MediaItem[]> {
    const items = await this.call('list the pictures of a text', () => this.sdk.messages(sid).media.list())
    return items.map((item) => ({
      url: new URL(item.uri.replace(/\.json$/, ''), this.sdk.api.baseUrl).toString(),
      contentType: item.contentType,
    }))
  }

  /**
   * Opens one of a text's media files (a URL from the webhook or `mediaOf`), streaming, capped at
   * 5 MB, timed and classified like every call (see `openDownload`). Our credentials go to Twilio's
   * API host and nowhere else, whatever the stored URL says: a URL on another host is refused
   * (give_up, code `not_twilio_host`) before anything is fetched. Twilio's media links redirect to
   * its storage: https and public addresses only.
   */
  async downloadMedia(url: string): Promise<Download> {
    const origin = new URL(this.config.apiBaseUrl ?? 'https://api.twilio.com').origin
    const source = URL.canParse(url) ? new URL(url) : null
    if (source?.origin !== origin) {
      const host = source?.host ?? 'an unreadable URL'
      throw new UpstreamError('twilio', 'give_up', `the media URL is on ${host}, not on the Twilio API host; not fetched`, {
        code: 'not_twilio_host',
      })
    }
    const authorization = `Basic ${Buffer.from(`${this.config.accountSid}:${this.config.authToken}`).toString('base64')}`
    return openDownload(source, {
      api: 'twilio',
      from: 'Twilio',
      allowed: (hop) => hop.protocol === 'https:',
      trustedOrigin: origin,
      headers: { authorization },
      fetch: this.metrics ? this.metrics.instrumentedFetch('twilio') : fetch,
    })
  }
}
