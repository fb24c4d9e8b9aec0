import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { z } from 'zod'
import { systemClock, type Clock, type ClockTimer } from '../../shared/clock.js'
import type { Results, Statement, Store, Tx } from '../../shared/db/database.js'
import type { Job } from '../../shared/db/schema.js'
import type { Reachability } from '../clients/reachability.js'
import { PermanentError, RetryLaterError, UpstreamError, errorMessage } from '../../shared/errors.js'
import { claimJobs, completeJob, extendLeases, failJob, nextRunAt, pendingJobs, rescheduleJob } from './queue.js'
import { inLane, laneOfRank } from './lanes.js'

/**
 * Every this-many-th claim is fair: it takes the oldest due jobs whatever their lane, so a lane
 * behind a steady stream of a first one (inbound behind replies, bulk behind inbound) still moves,
 * at about one job in this many, and a reply is kept waiting at most one claim by it.
 */
export const FAIR_EVERY = 8

export interface JobContext {
  job: Job
  log: FastifyBaseLogger
  /** Aborted when the worker gives up waiting for the job at shutdown. */
  signal: AbortSignal
  /**
   * `store.run` with the job's completion as one more statement: the job's last writes and its
   * completion commit together, atomic (the work is recorded exactly when the job is gone) and one
   * request to a remote database instead of two. Answers the given statements' results. The last
   * thing a task does; the worker then has nothing left to complete.
   */
  complete<S extends readonly Statement[]>(...statements: S): Promise<Results<S>>
}

/**
 * One kind of job: the payload it carries (validated when the job runs: a payload that does not fit
 * fails that job for good, with the reason) and what running it does. A task succeeds only by
 * returning; any throw reschedules it with backoff. Throw RetryLaterError to choose the delay,
 * PermanentError to give up at once. Tasks must be idempotent: after a crash a job runs again.
 */
export interface TaskDefinition<P = unknown> {
  payload: z.ZodType<P>
  run(payload: P, ctx: JobContext): Promise<void | TaskResult>
  /**
   * What to record when a job of this task dies, in the transaction that buries it (so the record,
   * typically a note for the team, cannot be lost between the two).
   */
  onDead?(trx: Tx, payload: P, job: Job, error: string): Promise<void>
}

/** A recurring job returns when to run next: it is kept, with its attempts reset, instead of deleted. */
export interface TaskResult {
  runAgainAt: number
}

export interface WorkerOptions {
  store: Store
  tasks: Record<string, TaskDefinition>
  log: FastifyBaseLogger
  concurrency?: number
  /** How long a claimed job is ours; it is extended while the job runs. */
  leaseMs?: number
  /** How often to look for work queued by other processes. */
  pollIntervalMs?: number
  backoff?: { baseMs: number; maxMs: number }
  /** Invoked after each job settles (metrics, tests). */
  onSettled?: (job: Job, outcome: 'completed' | 'retry' | 'dead', error?: unknown) => void
  /** Claims, leases, backoff and timers read this clock (tests move it). */
  clock?: Clock
  /** Turns a retry caused by an upstream outage into one line a minute instead of a stack each time. */
  reachability?: Pick<Reachability, 'warnIfUnreachable'>
}

export interface RunUntilIdleOptions {
  /**
   * Jobs due within this many ms are waited for, on the worker's clock (a retry's backoff, a 429's
   * reset), and run at their time. Default 0: only what is due now.
   */
  withinMs?: number
  /** Tasks not waited for (recurring ones, which come back for ever). */
  except?: readonly string[]
  /** Rounds (claim and run, or wait for the next due job) before giving up. */
  maxRounds?: number
  /**
   * Moves the worker's clock on by this many ms instead of waiting for it: a test clock that stands
   * still until told (a job held for a second would otherwise wait for ever).
   */
  advance?: (ms: number) => void
}

/** The worker's backoff unless told otherwise: 1 s doubling per attempt, at most 15 min. */
export const DEFAULT_BACKOFF = { baseMs: 1_000, maxMs: 15 * 60_000 }

/**
 * How long a job that keeps failing (an API unreachable, say) is retried before it is dead: the
 * delays between its `maxAttempts` attempts, on average (full jitter: half of each ceiling) and at
 * most (every delay its ceiling). Each attempt's own time (up to a 10 s timeout) comes on top.
 */
export function retryBudget(maxAttempts: number, backoff = DEFAULT_BACKOFF): { averageMs: number; mostMs: number } {
  let averageMs = 0
  let mostMs = 0
  for (let attempt = 1; attempt < maxAttempts; attempt++) {
    const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (attempt - 1))
    averageMs += Math.max(backoff.baseMs / 2, ceiling / 2)
    mostMs += ceiling
  }
  return { averageMs, mostMs }
}

/** Exponential backoff with full jitter: a random delay up to base * 2^(attempt-1), capped. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.max(baseMs / 2, Math.round(ceiling * random()))
}

export class Worker {
  readonly id = `${process.pid}-${randomUUID().slice(0, 8)}`
  private readonly store: Store
  private readonly tasks: Record<string, TaskDefinition>
  private readonly log: FastifyBaseLogger
  private readonly concurrency: number
  private readonly leaseMs: number
  private readonly pollIntervalMs: number
  private readonly backoff: { baseMs: number; maxMs: number }
  private readonly onSettled: WorkerOptions['onSettled']
  private readonly clock: Clock
  private readonly reachability: WorkerOptions['reachability']
  private readonly running = new Map<number, Promise<void>>()
  private readonly abort = new AbortController()
  private state: 'idle' | 'started' | 'stopping' | 'stopped' = 'idle'
  private pumping: Promise<void> | null = null
  private wakeAgain = false
  private pollTimer: ClockTimer | undefined
  private dueTimer: ClockTimer | undefined
  private dueAt = Infinity
  private heartbeat: ClockTimer | undefined
  private stopListening: (() => void) | undefined
  private claims = 0

  constructor(options: WorkerOptions) {
    this.store = options.store
    this.tasks = options.tasks
    this.log = options.log
    this.reachability = options.reachability
    this.concurrency = options.concurrency ?? 4
    this.leaseMs = options.leaseMs ?? 60_000
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000
    this.backoff = options.backoff ?? DEFAULT_BACKOFF
    this.onSettled = options.onSettled
    this.clock = options.clock ?? systemClock
  }

  start(): void {
    if (this.state !== 'idle') return
    this.state = 'started'
    // Work queued in this process wakes the worker as its transaction commits; the poll finds work
    // queued by other processes (a second machine, `sms-bridge jobs retry`).
    this.stopListening = this.store.onJobsReady(() => this.wake())
    this.pollTimer = this.clock.setInterval(() => this.wake(), this.pollIntervalMs)
    this.heartbeat = this.clock.setInterval(() => this.extendLeases(), Math.max(50, Math.floor(this.leaseMs / 3)))
    this.wake()
  }

  private extendLeases(): void {
    const ids = [...this.running.keys()]
    if (ids.length === 0) return
    const now = this.clock.now()
    this.store
      .run(extendLeases(this.id, ids, now + this.leaseMs, now))
      .catch((err) => this.log.error({ err }, 'could not extend job leases'))
  }

  /** Looks for work now (the store calls it when a transaction that queued work commits). */
  wake(): void {
    if (this.state !== 'started') return
    if (this.pumping) {
      this.wakeAgain = true
      return
    }
    this.pumping = this.pump()
      .catch((err) => this.log.error({ err }, 'job worker could not claim jobs'))
      .finally(() => {
        this.pumping = null
        if (this.wakeAgain) {
          this.wakeAgain = false
          this.wake()
        }
      })
  }

  /**
   * Claims and runs due jobs, a round at a time, until none is due (or due within `withinMs`) and
   * none of this worker's is running (graphile-worker's runTaskListOnce, repeated): tests call it
   * instead of polling the table. Runs whether or not the worker was started; jobs the started
   * worker claimed meanwhile are waited for. Bounded by rounds, never by time: after `maxRounds` it
   * fails naming what is pending.
   */
  async runUntilIdle(options: RunUntilIdleOptions = {}): Promise<void> {
    const { withinMs = 0, except = [], maxRounds = 1_000 } = options
    if (this.state === 'stopping' || this.state === 'stopped') throw new Error('the worker is stopped')
    for (let round = 0; round < maxRounds; round++) {
      await this.settle()
      const now = this.clock.now()
      const jobs = await this.claim(this.concurrency, now)
      for (const job of jobs) this.running.set(job.id, this.run(job))
      if (jobs.length > 0 || this.running.size > 0 || this.pumping) continue
      const pending = await pendingJobs(this.store.db, now + withinMs, except)
      if (pending.length === 0) return
      await this.untilDue(pending, now, options.advance)
    }
    const pending = await pendingJobs(this.store.db, this.clock.now() + withinMs, except)
    throw new Error(`jobs still pending after ${maxRounds} rounds: ${JSON.stringify(pending)}`)
  }

  /**
   * Waits, on the worker's clock, for the first pending job that is not due yet; when every pending
   * job is due but held (by another worker, or behind one of its jobs), for one turn of the loop.
   */
  private untilDue(pending: ReadonlyArray<Pick<Job, 'state' | 'run_at'>>, now: number, advance?: (ms: number) => void): Promise<void> {
    const next = Math.min(...pending.filter((j) => j.state === 'waiting' && j.run_at > now).map((j) => j.run_at))
    if (next === Infinity) return new Promise((resolve) => setImmediate(resolve))
    const waited = new Promise<void>((resolve) => this.clock.setTimeout(resolve, next - now))
    advance?.(next - now)
    return waited
  }

  /** Waits for the claim in flight and every job this worker is running. */
  private async settle(): Promise<void> {
    await this.pumping
    await Promise.allSettled([...this.running.values()])
  }

  get activeJobs(): number {
    return this.running.size
  }

  private async pump(): Promise<void> {
    while (this.state === 'started' && this.running.size < this.concurrency) {
      this.wakeAgain = false
      const jobs = await this.claim(this.concurrency - this.running.size, this.clock.now())
      for (const job of jobs) this.running.set(job.id, this.run(job))
      if (jobs.length === 0) {
        await this.scheduleNextDue()
        return
      }
    }
  }

  /** Claims up to `limit` due jobs, the first lane first; every FAIR_EVERY-th claim the oldest of any lane. */
  private claim(limit: number, now: number): Promise<Job[]> {
    const fair = ++this.claims % FAIR_EVERY === 0
    return claimJobs(this.store, { workerId: this.id, limit, leaseMs: this.leaseMs, now, fair })
  }

  /** Without this a delayed job would wait for the next poll rather than run on time. */
  private async scheduleNextDue(): Promise<void> {
    const next = await nextRunAt(this.store.db, this.clock.now())
    if (next === null || next >= this.dueAt || this.state !== 'started') return
    this.clock.clear(this.dueTimer)
    this.dueAt = next
    this.dueTimer = this.clock.setTimeout(
      () => {
        this.dueAt = Infinity
        this.wake()
      },
      Math.max(0, next - this.clock.now()) + 5,
    )
  }

  private async run(job: Job): Promise<void> {
    const log = this.log.child({ job: job.id, task: job.task, attempt: job.attempts, runAt: job.run_at })
    let outcome: 'completed' | 'retry' | 'dead' = 'completed'
    let failure: unknown
    const startedAt = performance.now()
    log.debug('job started')
    const task = this.tasks[job.task]
    const payload = task && parsePayload(task, job)
    let completed = false
    const complete = async <S extends readonly Statement[]>(...statements: S): Promise<Results<S>> => {
      const results = await this.store.run(...statements, completeJob(job, this.id))
      completed = true
      return results.slice(0, statements.length) as Results<S>
    }
    try {
      if (!task || !payload) throw new PermanentError(`no handler for task "${job.task}"`)
      if (!payload.ok) throw new PermanentError(payload.reason)
      // The job's lane goes with its code: the Intercom pacer lets a reply's calls through first.
      const run = task.run.bind(task, payload.value, { job, log, signal: this.abort.signal, complete })
      const result = await inLane(laneOfRank(job.lane), run)
      // A task that completed itself (ctx.complete) has nothing left to reschedule or complete.
      if (!completed)
        await this.store.run(
          result?.runAgainAt ? rescheduleJob(job, this.id, result.runAgainAt, this.clock.now()) : completeJob(job, this.id),
        )
      log.debug({ ms: Math.round(performance.now() - startedAt) }, 'job completed')
    } catch (err) {
      failure = err
      // The job is gone with its last writes: nothing to retry, only a bug to report.
      if (completed) log.error({ err }, 'job failed after it completed; nothing is retried')
      else outcome = await this.fail({ job, task, payload }, err, log)
    } finally {
      this.running.delete(job.id)
    }
    this.onSettled?.(job, outcome, failure)
    this.wake()
  }

  /** Records a failed run: a retry after the right delay, or a dead job (with its task's record). */
  private async fail(
    { job, task, payload }: { job: Job; task: TaskDefinition | undefined; payload: ReturnType<typeof parsePayload> | undefined },
    err: unknown,
    log: FastifyBaseLogger,
  ): Promise<'retry' | 'dead'> {
    const delay = this.retryDelay(err, job)
    try {
      const now = this.clock.now()
      // A payload that does not fit has nothing for a dead handler to read.
      const onDead =
        task?.onDead && payload?.ok ? (trx: Tx, dead: Job, error: string) => task.onDead!(trx, payload.value, dead, error) : undefined
      const error = `${err instanceof Error ? err.name : 'Error'}: ${errorMessage(err)}`
      const state = await failJob(this.store, { job, workerId: this.id, error, runAt: delay === null ? null : now + delay, now, onDead })
      if (state === 'dead') log.error({ err }, 'job failed for good and is now dead')
      else if (
        !this.reachability?.warnIfUnreachable(
          log,
          err,
          `job ${job.task} will be tried again in ${Math.max(1, Math.round((delay ?? 0) / 1000))} s (attempt ${job.attempts} of ${job.max_attempts})`,
          { retryInMs: delay },
        )
      ) {
        log.warn({ err, retryInMs: delay }, 'job failed and will be retried')
      }
      return state === 'dead' ? 'dead' : 'retry'
    } catch (storeErr) {
      // The lease will run out and the job will be claimed again: nothing is lost.
      log.error({ err: storeErr }, 'could not record the job failure')
      return 'retry'
    }
  }

  /** When to try a failed job again (null: never): what the task or the API adapter said, else backoff. */
  private retryDelay(err: unknown, job: Job): number | null {
    if (err instanceof PermanentError) return null
    if (err instanceof RetryLaterError) return err.delayMs
    if (err instanceof UpstreamError) {
      if (err.outcome === 'give_up' || err.outcome === 'merged') return null
      if (err.outcome === 'wait' && err.details.waitMs !== undefined) return err.details.waitMs
    }
    return backoffDelay(job.attempts, this.backoff.baseMs, this.backoff.maxMs)
  }

  /**
   * Stops claiming and waits up to `graceMs` for running jobs. Jobs still running then are left
   * with their lease; whichever process starts next takes them over when it runs out.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return
    this.state = 'stopping'
    this.stopListening?.()
    this.clock.clear(this.pollTimer)
    this.clock.clear(this.dueTimer)
    // A claim in flight may still hand us jobs: wait for it, so they are waited for too.
    await this.pumping
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs)
    })
    const result = await Promise.race([Promise.allSettled([...this.running.values()]), timedOut])
    clearTimeout(timer)
    if (result === 'timeout') {
      this.log.warn({ jobs: [...this.running.keys()] }, 'jobs still running at shutdown; their leases will expire')
      this.abort.abort()
    }
    this.clock.clear(this.heartbeat)
    this.state = 'stopped'
  }
}

/** The job's payload as its task declares it, or why it does not fit (the job then fails for good). */
function parsePayload<P>(task: TaskDefinition<P>, job: Job): { ok: true; value: P } | { ok: false; reason: string } {
  let raw: unknown
  try {
    raw = JSON.parse(job.payload)
  } catch {
    return { ok: false, reason: `the payload of job ${job.id} (${job.task}) is not JSON` }
  }
  const parsed = task.payload.safeParse(raw)
  if (parsed.success) return { ok: true, value: parsed.data }
  const issue = parsed.error.issues[0]!
  return {
    ok: false,
    reason: `the payload of job ${job.id} (${job.task}) does not fit the task: ${issue.path.join('.') || 'payload'}: ${issue.message}`,
  }
}
