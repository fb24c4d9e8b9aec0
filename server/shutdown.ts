import type { FastifyBaseLogger } from 'fastify'
import { flushStdoutLog } from '../shared/log.js'

/** The signals a supervisor (fly.io, systemd, a terminal) stops a service with. Fault signals are left alone. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const

/** How long the last log lines may take to be written when the grace period is over. */
const LAST_LINES_MS = 1_000

export interface ShutdownOptions {
  log: FastifyBaseLogger
  /** Stops taking requests, lets running jobs finish and closes the database. */
  close: () => Promise<void>
  /** How long a stop may take in all: `close`, then the last log lines (the last second of it). */
  graceMs: number
  /** Waits, at most the time given, for the last log lines to be written (default: standard output's); false if they were not. */
  flushLogs?: (ms: number) => Promise<boolean>
  exit?: (code: number) => void
  /** Ends the process when an exit could hang (default: SIGKILL to itself). */
  kill?: () => void
}

/**
 * On the first stop signal (or an uncaught error): log, run `close`, log "stopped", exit 0 (1 after an
 * error or when `close` fails or outlasts `graceMs`). A second signal while closing exits at once with 1.
 *
 * Hand-written rather than close-with-grace: that library registers its second-signal listener from
 * inside the first signal's listener, and Deno's Node layer calls a listener added during a signal's
 * dispatch for that same signal, so under `deno run` one SIGTERM counted as two and every stop cut
 * the running jobs off. One listener per signal, installed once, with the state kept here, behaves the
 * same on both runtimes.
 */
export function closeOnSignals(options: ShutdownOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code))
  const flushLogs = options.flushLogs ?? flushStdoutLog
  const kill = options.kill ?? (() => process.kill(process.pid, 'SIGKILL'))
  let closing = false
  const finish = async (reason: { signal?: string; err?: unknown }) => {
    const started = Date.now()
    // The last log lines get what is left of the grace period (at least LAST_LINES_MS, kept back from
    // `close`): a log reader that went away or stopped reading never holds the process past it.
    // Lines the reader did not take mean a write may be stuck in the kernel (a pipe nobody reads), and
    // a normal exit waits for it forever: then the process ends itself with SIGKILL (status 137).
    const flushThenExit = async (code: number) => {
      if (await flushLogs(Math.max(0, started + options.graceMs - Date.now()))) exit(code)
      else kill()
    }
    const closeMs = Math.max(0, options.graceMs - LAST_LINES_MS)
    const timer = setTimeout(() => {
      options.log.error({ graceMs: options.graceMs }, `still closing after ${closeMs / 1000} s; exiting without waiting further`)
      void flushThenExit(1)
    }, closeMs)
    timer.unref()
    let code = reason.err === undefined ? 0 : 1
    try {
      await options.close()
    } catch (err) {
      options.log.error({ err }, 'closing failed')
      code = 1
    }
    clearTimeout(timer)
    options.log.info({ signal: reason.signal, exitCode: code, tookMs: Date.now() - started }, 'stopped')
    await flushThenExit(code)
  }
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      options.log.error({ signal }, `second ${signal} while shutting down: exiting now, without waiting for running jobs`)
      return exit(1)
    }
    closing = true
    options.log.info({ signal }, 'shutting down')
    void finish({ signal })
  }
  const onError = (err: unknown) => {
    options.log.error({ err }, closing ? 'unexpected error while shutting down' : 'shutting down after an unexpected error')
    if (closing) return exit(1)
    closing = true
    void finish({ err })
  }
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal)
  process.on('uncaughtException', onError)
  process.on('unhandledRejection', onError)
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal)
    process.off('uncaughtException', onError)
    process.off('unhandledRejection', onError)
  }
}
