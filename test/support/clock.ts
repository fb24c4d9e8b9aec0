import type { Clock, ClockTimer } from '../../shared/clock.js'

interface Scheduled extends ClockTimer {
  at: number
  every: number | null
  fn: () => void
  cleared: boolean
}

/**
 * A clock the test moves: `now()` stands still until `advance(ms)` (or `set(at)`), which fires the
 * timers that came due on the way, in time order. Tests that use it never wait for wall-clock time.
 */
export class TestClock implements Clock {
  private current: number
  private readonly timers = new Set<Scheduled>()

  constructor(start = Date.now()) {
    this.current = start
  }

  now(): number {
    return this.current
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    return this.schedule(fn, ms, null)
  }

  setInterval(fn: () => void, ms: number): ClockTimer {
    return this.schedule(fn, ms, Math.max(1, ms))
  }

  clear(timer: ClockTimer | undefined): void {
    const t = timer as Scheduled | undefined
    if (t) {
      t.cleared = true
      this.timers.delete(t)
    }
  }

  /** Timers still waiting (a test can check that a worker left none behind). */
  get pending(): number {
    return this.timers.size
  }

  /** Moves time forward by `ms`, firing what comes due on the way. */
  advance(ms: number): void {
    this.set(this.current + ms)
  }

  /** Moves time to `at` (never backwards), firing what comes due on the way. */
  set(at: number): void {
    for (;;) {
      const next = [...this.timers].filter((t) => t.at <= at).sort((a, b) => a.at - b.at)[0]
      if (!next) break
      this.current = Math.max(this.current, next.at)
      if (next.every === null) this.timers.delete(next)
      else next.at += next.every
      next.fn()
    }
    this.current = Math.max(this.current, at)
  }

  private schedule(fn: () => void, ms: number, every: number | null): Scheduled {
    const timer: Scheduled = { at: this.current + Math.max(0, ms), every, fn, cleared: false }
    this.timers.add(timer)
    return timer
  }
}

/**
 * Moves `clock` forward `step` ms at a time, letting the event loop turn between steps, until `check`
 * holds. Bounded by test-clock time, never by wall-clock time: a slow machine takes longer, never
 * fails.
 */
export async function advanceUntil(
  clock: TestClock,
  check: () => boolean | Promise<boolean>,
  what: string,
  options: { step?: number; limitMs?: number } = {},
): Promise<void> {
  const step = options.step ?? 10
  const limit = clock.now() + (options.limitMs ?? 24 * 3_600_000)
  for (;;) {
    if (await check()) return
    if (clock.now() >= limit) throw new Error(`${what}: still not done after ${options.limitMs ?? 24 * 3_600_000} ms of test-clock time`)
    // Several turns: a claim or a settle is a few awaited statements.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    clock.advance(step)
  }
}
