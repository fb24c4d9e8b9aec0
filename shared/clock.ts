/**
 * Time as the code that waits reads it: what time it is and "call me in N ms". Product code runs on
 * `systemClock`; tests hand in a clock they move, so nothing they check waits for wall-clock time.
 */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): ClockTimer
  setInterval(fn: () => void, ms: number): ClockTimer
  /** Cancels a timer of either kind; undefined is ignored. */
  clear(timer: ClockTimer | undefined): void
}

/** A timer a clock handed out; only that clock can clear it. */
export interface ClockTimer {
  readonly clock?: unknown
}

interface SystemTimer extends ClockTimer {
  timeout?: ReturnType<typeof setTimeout>
  interval?: ReturnType<typeof setInterval>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms): SystemTimer => ({ timeout: setTimeout(fn, ms) }),
  setInterval: (fn, ms): SystemTimer => ({ interval: setInterval(fn, ms) }),
  // Only this clock's timers reach here (see ClockTimer), so the parameter is the narrower type.
  clear(timer: SystemTimer | undefined) {
    if (timer?.timeout) clearTimeout(timer.timeout)
    if (timer?.interval) clearInterval(timer.interval)
  },
}
