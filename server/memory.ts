import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock, ClockTimer } from '../shared/clock.js'
import type { Metrics } from './metrics.js'

/**
 * Giving V8's spare heap pages back to the system.
 *
 * From V8 12 (Node 22 and 24) a collection keeps the heap pages it empties in a pool for the
 * heap's next growth, resident, and only a memory-reducing collection gives them back; in a busy
 * service none comes by itself (40 s after a burst, an idle Node 24 process still held 186 MB of
 * pooled pages with 16 MB of heap in use; Node 22, 203 MB beside 75 MB of heap). Node 20's V8
 * unmapped them after each collection. So a burst leaves the process at its highest heap for good:
 * on a 256 MB machine, whatever native memory the next burst needs comes on top of it.
 *
 * The releaser watches the process's memory outside V8's heap (RSS less the heap's committed size:
 * the pool, native memory and the binary's pages) and, when it has grown by `thresholdBytes` since
 * the last look after a release, runs one memory-reducing collection: a pause of tens of
 * milliseconds. One that gives back less than half the threshold (the growth was native memory, or
 * a runtime without the pool) doubles the wait before the next, up to 16 times `minGapMs`.
 */
export interface MemoryReading {
  rss: number
  heapTotal: number
}

export interface MemoryReleaserOptions {
  clock: Clock
  /** Runs one memory-reducing collection (memoryReducingCollection()). */
  collect: () => void
  /** The process's memory now (process.memoryUsage). */
  read?: () => MemoryReading
  log?: FastifyBaseLogger
  metrics?: Pick<Metrics, 'memoryReleases' | 'memoryReleasedBytes'>
  /** How often it looks (default 10 s: a look is a read of two figures). */
  checkMs?: number
  /** Growth outside the heap that is worth a collection (default 16 MB). */
  thresholdBytes?: number
  /** The least time between two collections (default 1 minute). */
  minGapMs?: number
}

const MB = 2 ** 20
const MAX_BACKOFF = 16

export class MemoryReleaser {
  readonly #clock: Clock
  readonly #collect: () => void
  readonly #read: () => MemoryReading
  readonly #log: FastifyBaseLogger | undefined
  readonly #metrics: MemoryReleaserOptions['metrics']
  readonly #checkMs: number
  readonly #threshold: number
  readonly #minGapMs: number
  #baseline: number
  #lastAt: number
  #backoff = 1
  #timer: ClockTimer | undefined

  constructor(options: MemoryReleaserOptions) {
    this.#clock = options.clock
    this.#collect = options.collect
    this.#read = options.read ?? (() => process.memoryUsage())
    this.#log = options.log
    this.#metrics = options.metrics
    this.#checkMs = options.checkMs ?? 10_000
    this.#threshold = options.thresholdBytes ?? 16 * MB
    this.#minGapMs = options.minGapMs ?? 60_000
    this.#baseline = outsideHeap(this.#read())
    this.#lastAt = -Infinity
  }

  /** Looks every `checkMs` until stop() (the service stops it when it closes). */
  start(): void {
    this.#timer ??= this.#clock.setInterval(() => this.check(), this.#checkMs)
  }

  stop(): void {
    this.#clock.clear(this.#timer)
    this.#timer = undefined
  }

  /** One look: collects when the growth and the wait call for it. Returns the bytes given back, or null. */
  check(): number | null {
    const before = this.#read()
    const now = this.#clock.now()
    const grown = outsideHeap(before) - this.#baseline
    if (grown < this.#threshold || now - this.#lastAt < this.#minGapMs * this.#backoff) {
      // Native memory given back lowers the mark, so later growth is measured from there.
      if (grown < 0) this.#baseline = outsideHeap(before)
      return null
    }
    const started = performance.now()
    this.#collect()
    const pauseMs = Math.round(performance.now() - started)
    const after = this.#read()
    const released = Math.max(0, before.rss - after.rss)
    this.#baseline = outsideHeap(after)
    this.#lastAt = this.#clock.now()
    this.#backoff = released < this.#threshold / 2 ? Math.min(MAX_BACKOFF, this.#backoff * 2) : 1
    this.#metrics?.memoryReleases.inc()
    this.#metrics?.memoryReleasedBytes.inc(released)
    this.#log?.debug(
      { releasedMb: round(released / MB), rssMb: round(after.rss / MB), heapMb: round(after.heapTotal / MB), pauseMs },
      'gave spare heap pages back to the system',
    )
    return released
  }
}

const outsideHeap = (m: MemoryReading) => m.rss - m.heapTotal
const round = (n: number) => Math.round(n * 10) / 10

/**
 * V8's memory-reducing collection (what it runs itself under memory pressure), or null where it is
 * not needed (V8 before 12, Node 20, gives the pages back itself) or not offered. The `gc` function is
 * taken from a context of its own, so nothing else in the process sees a global `gc`; the flag is
 * set back at once.
 */
export function memoryReducingCollection(v8Version = process.versions.v8): (() => void) | null {
  if (!(Number(/^\d+/.exec(v8Version ?? '')?.[0] ?? 0) >= 12)) return null
  try {
    setFlagsFromString('--expose-gc')
  } catch {
    return null // a runtime without V8 flags
  }
  let gc: unknown
  try {
    gc = runInNewContext('typeof gc === "function" ? gc : undefined')
  } catch {
    gc = undefined
  } finally {
    // Whatever happened, contexts made later get no gc.
    setFlagsFromString('--no-expose-gc')
  }
  if (typeof gc !== 'function') return null
  const collect = gc as (options: object) => unknown
  // 'last-resort' is V8's memory-reducing flavour: it empties the page pool.
  return () => void collect({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}
