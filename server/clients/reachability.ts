import type { FastifyBaseLogger } from 'fastify'

export type Api = 'twilio' | 'intercom'

const API_NAMES: Record<Api, string> = { twilio: 'Twilio', intercom: 'Intercom' }

/** Error codes that mean "no answer from the other end": the network, not the request, failed. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_SOCKET',
])

export interface ConnectionFailure {
  code: string
  /** host:port (or host) that did not answer. */
  host: string
}

/**
 * The connection failure under an API error, if that is what it is: the SDKs wrap the network's
 * error (axios under twilio, fetch under intercom-client, then our job errors) a few causes deep.
 */
export function connectionFailure(err: unknown): ConnectionFailure | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 6 && e && typeof e === 'object'; depth++) {
    const x = e as { code?: unknown; hostname?: unknown; address?: unknown; port?: unknown; host?: unknown; message?: unknown; cause?: unknown; errors?: unknown }
    if (typeof x.code === 'string' && NETWORK_CODES.has(x.code)) {
      const named = typeof x.hostname === 'string' ? x.hostname : typeof x.address === 'string' ? x.address : typeof x.host === 'string' ? x.host : undefined
      const fromMessage = typeof x.message === 'string' ? /\b(?:connect|getaddrinfo|read|write) [A-Z_]+ (\S+)/.exec(x.message)?.[1] : undefined
      const host = named ? `${named}${typeof x.port === 'number' || typeof x.port === 'string' ? `:${x.port}` : ''}` : (fromMessage ?? 'unknown host')
      // axios says ECONNABORTED for its own timeout: that is a timeout.
      return { code: x.code === 'ECONNABORTED' && /timeout/i.test(String(x.message)) ? 'ETIMEDOUT' : x.code, host }
    }
    // An SDK that kept only the message (see sayWhichConnectionFailed): "... connect ECONNREFUSED 127.0.0.1:9".
    const worded = typeof x.message === 'string' ? /\b(?:connect|getaddrinfo|read|write) ([A-Z_]+) (\S+)$/.exec(x.message) : null
    if (worded && NETWORK_CODES.has(worded[1]!)) return { code: worded[1]!, host: worded[2]! }
    // Happy-eyeballs connects fail with one error per address.
    if (Array.isArray(x.errors) && x.errors.length > 0 && !x.cause) e = x.errors[0]
    else e = x.cause
  }
  return undefined
}

/** At most one line per unreachable host in this long, while the outage lasts. */
export const OUTAGE_LOG_INTERVAL_MS = 60_000

interface Outage {
  api: Api | undefined
  code: string
  since: number
  failures: number
  lastWarned: number
}

function duration(ms: number): string {
  if (ms < 120_000) return `${Math.max(1, Math.round(ms / 1000))} s`
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`
  return `${Math.round(ms / 3_600_000)} h`
}

/**
 * Keeps upstream outages to a few lines: when Twilio or Intercom cannot be reached, one warning
 * names the code, the host and what happens next (no stack: it says nothing an operator can use),
 * repeated at most once a minute per host while it lasts, and one line when the API answers again.
 * The API clients report every call here; whoever would log a failure asks `warnIfUnreachable` first.
 */
export class Reachability {
  readonly #outages = new Map<string, Outage>()

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The API answered (any status): it is reachable. Ends its outages with a line. */
  answered(api: Api): void {
    for (const [host, outage] of this.#outages) {
      if (outage.api !== api) continue
      this.#outages.delete(host)
      const downForMs = this.now() - outage.since
      this.log.info(
        { api, host, downForMs, failedCalls: outage.failures },
        `${API_NAMES[api]} is reachable again at ${host} after ${duration(downForMs)} (${outage.failures} failed call${outage.failures === 1 ? '' : 's'} meanwhile); waiting work goes on`,
      )
    }
  }

  /** A call failed without an answer. */
  failed(api: Api, err: unknown): void {
    const failure = connectionFailure(err)
    if (!failure) return
    const outage = this.#outage(failure, api)
    outage.failures++
  }

  /**
   * When `err` is a connection failure: logs one line saying `next` (what will happen now), unless
   * one was logged for this host within the minute, and returns true. Otherwise returns false and
   * the caller logs the error as usual.
   */
  warnIfUnreachable(log: FastifyBaseLogger, err: unknown, next: string, fields: Record<string, unknown> = {}): boolean {
    const failure = connectionFailure(err)
    if (!failure) return false
    const outage = this.#outage(failure)
    const now = this.now()
    if (now - outage.lastWarned < OUTAGE_LOG_INTERVAL_MS) return true
    outage.lastWarned = now
    const name = outage.api ? API_NAMES[outage.api] : failure.host
    log.warn(
      { ...fields, api: outage.api, code: failure.code, host: failure.host, downForMs: now - outage.since },
      `${name} unreachable (${failure.code} at ${failure.host}${now - outage.since >= 1000 ? `, for ${duration(now - outage.since)}` : ''}); ${next}`,
    )
    return true
  }

  #outage(failure: ConnectionFailure, api?: Api): Outage {
    let outage = this.#outages.get(failure.host)
    if (!outage) {
      outage = { api, code: failure.code, since: this.now(), failures: 0, lastWarned: -Infinity }
      this.#outages.set(failure.host, outage)
    }
    if (api) outage.api = api
    outage.code = failure.code
    return outage
  }
}
