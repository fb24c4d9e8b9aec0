import type { FastifyBaseLogger } from 'fastify'
import { UpstreamError } from '../../shared/errors.js'

export type Api = 'twilio' | 'intercom'

const API_NAMES: Record<Api, string> = { twilio: 'Twilio', intercom: 'Intercom' }

export interface ConnectionFailure {
  /** Node's code for what went wrong (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND, a TLS code...). */
  code: string
  /** host:port of the API that did not answer, as configured (not the address it resolved to). */
  host: string
}

/** An API's host:port as outage lines name it: api.intercom.io:443, from its base URL. */
export function apiHost(baseUrl: string): string {
  const url = new URL(baseUrl)
  return url.port ? url.host : `${url.hostname}:${url.protocol === 'http:' ? 80 : 443}`
}

/**
 * Why a call got no answer, read from the error an SDK threw: the first code along its causes.
 * The official SDKs wrap the network's error differently: fetch (under intercom-client) throws
 * TypeError('fetch failed') whose cause is Node's error, or an AggregateError with one error per
 * address the name resolved to, or undici's SocketError (UND_ERR_SOCKET); axios (under twilio)
 * throws an AxiosError carrying the code itself. A timeout has no network code: it is ETIMEDOUT.
 */
export function networkCode(err: unknown): string | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 6 && e && typeof e === 'object'; depth++) {
    const x = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown }
    // axios names its own timeout ECONNABORTED; fetch's timeouts are aborts.
    if (x.code === 'ECONNABORTED' && /timeout/i.test(String(x.message))) return 'ETIMEDOUT'
    if (typeof x.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(x.code)) return x.code
    if (x.name === 'TimeoutError' || x.name === 'AbortError' || x.name === 'IntercomTimeoutError') return 'ETIMEDOUT'
    e = x.cause ?? (Array.isArray(x.errors) ? x.errors[0] : undefined)
  }
  return undefined
}

/**
 * The connection failure an API adapter found under `err` (see `intercomFailure`, `twilioFailure`):
 * set only when nothing answered, with the configured host, so logs and `doctor` can name both.
 */
export function connectionFailure(err: unknown): (ConnectionFailure & { api: Api }) | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 6 && e instanceof Error; depth++) {
    if (e instanceof UpstreamError && e.details.unreachable) return { api: e.api, ...e.details.unreachable }
    e = e.cause
  }
  return undefined
}

/** At most one line per unreachable API in this long, while the outage lasts. */
export const OUTAGE_LOG_INTERVAL_MS = 60_000

interface Outage {
  code: string | undefined
  host: string | undefined
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
 * repeated at most once a minute per API while it lasts, and one line when the API answers again.
 * The API clients report every call here; whoever would log a failure asks `warnIfUnreachable` first.
 */
export class Reachability {
  readonly #outages = new Map<Api, Outage>()

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The API answered (any status): it is reachable. Ends its outage, with a line if one was logged. */
  answered(api: Api): void {
    const outage = this.#outages.get(api)
    if (!outage) return
    this.#outages.delete(api)
    if (outage.lastWarned === -Infinity) return
    const downForMs = this.now() - outage.since
    this.log.info(
      { api, host: outage.host, downForMs, failedCalls: outage.failures },
      `${API_NAMES[api]} is reachable again at ${outage.host} after ${duration(downForMs)} (${outage.failures} failed call${outage.failures === 1 ? '' : 's'} meanwhile); waiting work goes on`,
    )
  }

  /** A call to the API got no answer (a refused or reset connection, a timeout). */
  failed(api: Api): void {
    this.#outage(api).failures++
  }

  /**
   * When `err` is a connection failure: logs one line saying `next` (what will happen now), unless
   * one was logged for this API within the minute, and returns true. Otherwise returns false and
   * the caller logs the error as usual.
   */
  warnIfUnreachable(log: FastifyBaseLogger, err: unknown, next: string, fields: Record<string, unknown> = {}): boolean {
    const failure = connectionFailure(err)
    if (!failure) return false
    const outage = this.#outage(failure.api)
    Object.assign(outage, { code: failure.code, host: failure.host })
    const now = this.now()
    if (now - outage.lastWarned < OUTAGE_LOG_INTERVAL_MS) return true
    outage.lastWarned = now
    const down = now - outage.since
    log.warn(
      { ...fields, api: failure.api, code: failure.code, host: failure.host, downForMs: down },
      `${API_NAMES[failure.api]} unreachable (${failure.code} at ${failure.host}${down >= 1000 ? `, for ${duration(down)}` : ''}); ${next}`,
    )
    return true
  }

  #outage(api: Api): Outage {
    let outage = this.#outages.get(api)
    if (!outage) {
      outage = { code: undefined, host: undefined, since: this.now(), failures: 0, lastWarned: -Infinity }
      this.#outages.set(api, outage)
    }
    return outage
  }
}
