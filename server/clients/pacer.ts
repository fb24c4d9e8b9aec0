import type { Clock, ClockTimer } from '../../shared/clock.js'
import { laneRank, type Lane } from '../queue/lanes.js'

/** Intercom's rate-limit window: X-RateLimit-Limit is the calls allowed in one (API-NOTES). */
export const INTERCOM_WINDOW_MS = 10_000

/**
 * The share of a window's calls kept for replies: automated and bulk callers do not take the last
 * of it, so a teammate's reply arriving late in a window still finds a call.
 */
const REPLY_RESERVE = 0.05

/** The share of a window's calls that may start at once; the rest are spread over the window. */
const BURST = 0.1

/** What an answer said about the window, from its X-RateLimit-* headers. */
export interface RateNews {
  /** Calls allowed per window. */
  limit: number
  /** Calls left in this window. */
  remaining: number
  /** How long until the window starts again, ms, as Intercom's own clock counts it. */
  resetInMs: number
}

/** The window as the pacer keeps it, on its own clock. */
interface RateWindow {
  /** Calls allowed per window. */
  limit: number
  /** Calls left in this window. */
  remaining: number
  /** When the window starts again, epoch ms. */
  resetAt: number
}

/** The longest wait a reset may ask for: a window is 10 s; a minute covers workspaces that count by the minute. */
const MAX_RESET_MS = 60_000

/**
 * The X-RateLimit-* headers of an answer, or null when it has none (or they do not make sense).
 * X-RateLimit-Reset is a time on Intercom's clock, so it is read against the answer's own Date
 * header: the wait it means holds whatever our clock says (a skewed host, a test's clock).
 */
export function readRateHeaders(headers: Pick<Headers, 'get'> | undefined, fallbackNow = Date.now()): RateNews | null {
  const limit = Number(headers?.get('x-ratelimit-limit'))
  const remaining = Number(headers?.get('x-ratelimit-remaining'))
  const reset = Number(headers?.get('x-ratelimit-reset'))
  if (!(limit > 0) || !Number.isFinite(remaining) || !(reset > 0)) return null
  const date = Date.parse(headers?.get('date') ?? '')
  const serverNow = Number.isFinite(date) ? date : fallbackNow
  const resetInMs = Math.min(Math.max(reset * 1000 - serverNow, 0), MAX_RESET_MS)
  return { limit, remaining: Math.max(0, remaining), resetInMs }
}

/** Resets closer than this are the same window (X-RateLimit-Reset and Date count whole seconds). */
const SAME_WINDOW_MS = 1_500

interface Waiter {
  rank: number
  seq: number
  grant: () => void
}

/**
 * Spends Intercom's rate limit evenly instead of running into it. The limit is learned from the
 * answers' X-RateLimit-* headers (until an answer has them, one call at a time); of each window the
 * bridge takes at most `share` of the limit, and never more than the answers say remain (other apps
 * may share the workspace). A tenth of the window may start at once, the rest evenly over it; a caller waits its
 * turn, the first lane first (a reply before an inbound delivery before automated and bulk texts),
 * and a reply is not spaced at all, only counted. A 429 becomes rare instead of the way to slow down.
 */
export class RatePacer {
  private window: RateWindow | null = null
  /** Calls started in the current window, and calls started whose answer has not come. */
  private used = 0
  private inFlight = 0
  private seq = 0
  private readonly waiting: Waiter[] = []
  private timer: ClockTimer | undefined
  private timerAt = Infinity

  constructor(
    private readonly clock: Clock,
    /** The share of the limit the bridge may use, 0 to 1. */
    private readonly share = 1,
  ) {}

  /** Resolves when a call of `lane` may start. Every acquire is followed by one `settle`. */
  acquire(lane: Lane): Promise<void> {
    return new Promise((grant) => {
      this.waiting.push({ rank: laneRank(lane), seq: this.seq++, grant })
      this.waiting.sort((a, b) => a.rank - b.rank || a.seq - b.seq)
      this.pump()
    })
  }

  /** A call's answer came (its headers, if any) or it failed without one. */
  settle(news: RateNews | null): void {
    this.inFlight = Math.max(0, this.inFlight - 1)
    if (news) this.observe({ limit: news.limit, remaining: news.remaining, resetAt: this.clock.now() + news.resetInMs })
    this.pump()
  }

  /** Calls waiting for their turn (metrics, tests). */
  get queued(): number {
    return this.waiting.length
  }

  private observe(seen: RateWindow): void {
    const current = this.window
    // The reset is counted in whole seconds: answers within a second of each other's reset are one window.
    if (!current || seen.resetAt >= current.resetAt + SAME_WINDOW_MS) {
      // A new window: what Intercom says remains counts from here (the first one's calls are ours so far).
      if (current) this.used = 0
      this.window = { ...seen }
    } else {
      // Answers of one window can arrive out of order: the fewest remaining is the latest.
      if (seen.resetAt > current.resetAt - SAME_WINDOW_MS) current.remaining = Math.min(current.remaining, seen.remaining)
      current.limit = seen.limit
    }
  }

  /** Grants what may start now, first lane first; sets a timer for the next turn. */
  private pump(): void {
    for (;;) {
      const head = this.waiting[0]
      if (!head) return
      const wait = this.waitFor(head.rank)
      // Infinity: until a call in flight answers (settle pumps again).
      if (wait === Infinity) return
      if (wait > 0) return this.wakeIn(wait)
      this.waiting.shift()
      this.used++
      this.inFlight++
      head.grant()
    }
  }

  /** How long a caller of this rank must wait before it may start (0: now; Infinity: for an answer). */
  private waitFor(rank: number): number {
    const now = this.clock.now()
    const window = this.window
    // Until an answer says what the limit is, one call at a time.
    if (!window) return this.inFlight > 0 ? Infinity : 0
    if (now >= window.resetAt) {
      // A new window: all of it is there (as far as we know until its first answer).
      this.window = {
        limit: window.limit,
        remaining: window.limit,
        resetAt: window.resetAt + INTERCOM_WINDOW_MS * Math.ceil((now - window.resetAt + 1) / INTERCOM_WINDOW_MS),
      }
      this.used = 0
      return this.waitFor(rank)
    }
    const budget = Math.max(1, Math.floor(window.limit * this.share))
    const reserve = rank >= laneRank('automated') ? Math.ceil(budget * REPLY_RESERVE) : 0
    const left = Math.min(budget - this.used, window.remaining - this.inFlight) - reserve
    if (left <= 0) return window.resetAt - now
    if (rank === 0) return 0
    // Spent evenly with a head start: by any moment of the window the calls started may be its share
    // of the window so far plus a burst. A few calls never wait; a backlog goes at the even pace.
    const start = window.resetAt - INTERCOM_WINDOW_MS
    const burst = Math.min(budget, Math.max(1, Math.ceil(budget * BURST)))
    const paced = budget - burst
    const allowed = burst + paced * Math.min(1, Math.max(0, (now - start) / INTERCOM_WINDOW_MS))
    if (this.used < allowed || paced === 0) return 0
    return Math.max(1, Math.floor(start + ((this.used - burst) / paced) * INTERCOM_WINDOW_MS - now) + 1)
  }

  private wakeIn(ms: number): void {
    const at = this.clock.now() + ms
    if (this.timer && this.timerAt <= at) return
    this.clock.clear(this.timer)
    this.timerAt = at
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      this.timerAt = Infinity
      this.pump()
    }, ms)
  }
}
