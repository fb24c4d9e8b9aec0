import { sql } from 'kysely'
import { prepare, type ArgOf } from '../../shared/db/prepared.js'
import { compiler, queuesWork, type Statement } from '../../shared/db/statement.js'
import type { Executor, Store, Tx } from '../../shared/db/database.js'
import type { Job, JobState } from '../../shared/db/schema.js'
import { DEFAULT_LANE, LANES, laneRank, type Lane } from './lanes.js'

export const DEFAULT_MAX_ATTEMPTS = 20

export interface EnqueueSpec {
  task: string
  payload: unknown
  /** While a job with this key exists (waiting, running or dead), enqueueing it again does nothing. */
  key?: string | undefined
  /** Jobs with the same ordering key run one at a time, in the order they were queued. */
  queueKey?: string | undefined
  /** Earliest time to run, in epoch milliseconds (default: now). */
  runAt?: number | undefined
  maxAttempts?: number | undefined
  /** Which lane the job waits in (lanes.ts); the task's, through `enqueueTask`. */
  lane?: Lane | undefined
}

/** A job's row as every enqueue writes it, its defaults filled in. */
function jobValues(spec: EnqueueSpec, now: number) {
  return {
    task: spec.task,
    payload: JSON.stringify(spec.payload ?? null),
    key: spec.key ?? null,
    queueKey: spec.queueKey ?? null,
    maxAttempts: spec.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    runAt: spec.runAt ?? now,
    lane: laneRank(spec.lane ?? DEFAULT_LANE),
    now,
  }
}

const insertJob = prepare<ReturnType<typeof jobValues>>((db, arg) =>
  db
    .insertInto('jobs')
    .values({
      task: arg('task'),
      payload: arg('payload'),
      key: arg('key'),
      queue_key: arg('queueKey'),
      max_attempts: arg('maxAttempts'),
      run_at: arg('runAt'),
      lane: arg('lane'),
      created_at: arg('now'),
      updated_at: arg('now'),
    })
    .onConflict((oc) => oc.column('key').doNothing()),
)

/**
 * Adds a job with the writes it is about (a stored webhook, a stored message), so it exists exactly
 * when they do: one row changed, or none when a job with the same key exists. The store wakes the
 * worker when it commits.
 */
export function enqueue(spec: EnqueueSpec, now: number): Statement {
  return queuesWork(insertJob(jobValues(spec, now)))
}

const insertJobAfterInsert = prepare<ReturnType<typeof jobValues> & { idField: string }>(
  (db, arg) => sql`INSERT INTO jobs (task, payload, key, queue_key, max_attempts, run_at, lane, created_at, updated_at)
    SELECT ${arg('task')}, json_set(${arg('payload')}, ${arg('idField')}, last_insert_rowid()), ${arg('key')}, ${arg('queueKey')}, ${arg('maxAttempts')}, ${arg('runAt')}, ${arg('lane')}, ${arg('now')}, ${arg('now')}
    WHERE changes() > 0
    ON CONFLICT (key) DO NOTHING`,
)

/**
 * An enqueue to follow an INSERT in the same `run`: it adds the job only when that INSERT added a
 * row (`changes()`: a new text, not a redelivery), and the payload's field `idField` is that row's id
 * (`last_insert_rowid()`), so no statement waits for another's result in code. The key dedupes as in
 * `enqueue`.
 */
export function enqueueAfterInsert(spec: EnqueueSpec & { payload: Record<string, unknown> }, idField: string, now: number): Statement {
  return queuesWork(insertJobAfterInsert({ ...jobValues(spec, now), idField: `$.${idField}` }))
}

const insertJobAfterChange = prepare<ReturnType<typeof jobValues>>(
  (db, arg) => sql`INSERT INTO jobs (task, payload, key, queue_key, max_attempts, run_at, lane, created_at, updated_at)
    SELECT ${arg('task')}, ${arg('payload')}, ${arg('key')}, ${arg('queueKey')}, ${arg('maxAttempts')}, ${arg('runAt')}, ${arg('lane')}, ${arg('now')}, ${arg('now')}
    WHERE changes() > 0
    ON CONFLICT (key) DO NOTHING`,
)

/**
 * An enqueue to follow an UPDATE or DELETE in the same `run`: it adds the job only when that
 * statement changed a row (`changes()`), so a job about "whatever was just changed" exists exactly
 * when something was. The key dedupes as in `enqueue`.
 */
export function enqueueAfterChange(spec: EnqueueSpec, now: number): Statement {
  return queuesWork(insertJobAfterChange(jobValues(spec, now)))
}

// A job that keeps killing its process must not be claimed forever.
const buryExhausted = prepare<{ now: number }>((db, arg) =>
  db
    .updateTable('jobs')
    .set({
      state: 'dead',
      locked_by: null,
      locked_until: null,
      updated_at: arg('now'),
      last_error: sql`coalesce(last_error || ' / ', '') || 'lease expired after the last attempt (the process running it stopped)'`,
    })
    .where('state', '=', 'running')
    .where('locked_until', '<=', arg('now'))
    .whereRef('attempts', '>=', 'max_attempts'),
)

const claimDue = prepare((db, arg: ArgOf<{ workerId: string; lockedUntil: number; now: number; limit: number; fair: number }>) => {
  // Searches that each walk an index in run order and stop at `limit` heads: one per lane over
  // jobs_lane_due for the waiting, one over jobs_due for the running whose lease ran out. One search
  // over both states (an OR) made SQLite collect and sort every due job: a claim slowed from 1 ms to
  // 15 ms with 20,000 jobs waiting, as after a long outage.
  const heads = (state: 'waiting' | 'running', lane?: number) => {
    let q = db
      .selectFrom('jobs as j')
      .select(['j.id', 'j.run_at', 'j.lane'])
      .where('j.state', '=', state)
      .where(state === 'waiting' ? 'j.run_at' : 'j.locked_until', '<=', arg('now'))
    if (lane !== undefined) q = q.where('j.lane', '=', lane)
    return q
      .where((eb) =>
        eb.or([
          eb('j.queue_key', 'is', null),
          eb(
            'j.id',
            '=',
            eb
              .selectFrom('jobs as h')
              .select((h) => h.fn.min('h.id').as('head'))
              .whereRef('h.queue_key', '=', 'j.queue_key')
              .where('h.state', 'in', ['waiting', 'running']),
          ),
        ]),
      )
      .orderBy('j.run_at')
      .orderBy('j.id')
      .limit(arg('limit'))
  }
  let due = db.selectFrom(heads('running').as('r')).selectAll()
  for (const lane of LANES) due = due.unionAll(db.selectFrom(heads('waiting', laneRank(lane)).as(`w_${lane}`)).selectAll())
  // The first lane first; a fair claim (`fair` = 1) takes the oldest due jobs whatever their lane.
  const rank = sql`CASE WHEN ${arg('fair')} = 1 THEN 0 ELSE due.lane END`
  return db
    .updateTable('jobs')
    .set({
      state: 'running',
      locked_by: arg('workerId'),
      locked_until: arg('lockedUntil'),
      attempts: sql`attempts + 1`,
      updated_at: arg('now'),
    })
    .where(
      'id',
      'in',
      db.selectFrom(due.as('due')).select('due.id').orderBy(rank).orderBy('due.run_at').orderBy('due.id').limit(arg('limit')),
    )
    .returningAll()
})

/**
 * Claims up to `limit` due jobs for `workerId`: two statements in one `run` (the remote
 * database gets it in one request), the claim itself one UPDATE that SQLite runs atomically, so two
 * workers, in one process or two, can never claim the same job. A running job whose lease ran out
 * (its process died) is due again. Of the jobs sharing an ordering key only the oldest unfinished
 * one is ever eligible, so they run one at a time and in order, even across retries, whatever
 * their lanes. The first lane's due jobs go first, unless the claim is `fair`: then the oldest due
 * jobs of any lane (the worker makes every FAIR_EVERY-th claim fair, so no lane waits for ever).
 * Answers the jobs in the order they were chosen.
 */
export async function claimJobs(
  store: Store,
  { workerId, limit, leaseMs, now, fair = false }: { workerId: string; limit: number; leaseMs: number; now: number; fair?: boolean },
): Promise<Job[]> {
  const [, claimed] = await store.run(
    buryExhausted({ now }),
    claimDue({ workerId, lockedUntil: now + leaseMs, now, limit, fair: fair ? 1 : 0 }),
  )
  const rank = (job: Job) => (fair ? 0 : job.lane)
  return claimed.rows.sort((a, b) => rank(a) - rank(b) || a.run_at - b.run_at || a.id - b.id)
}

const deleteJob = prepare<{ id: number; workerId: string }>((db, arg) =>
  db.deleteFrom('jobs').where('id', '=', arg('id')).where('locked_by', '=', arg('workerId')),
)

/**
 * A finished job is deleted; its effects live in the domain tables. One statement, so it shares a
 * remote group commit's one request, and a task can end its own last writes with it (ctx.complete).
 */
export function completeJob(job: Job, workerId: string): Statement {
  return deleteJob({ id: job.id, workerId })
}

/** Puts a recurring job back to wait for its next run, with a fresh set of attempts. */
export function rescheduleJob(job: Job, workerId: string, runAt: number, now: number): Statement {
  return compiler
    .updateTable('jobs')
    .set({ state: 'waiting', run_at: runAt, attempts: 0, locked_by: null, locked_until: null, last_error: null, updated_at: now })
    .where('id', '=', job.id)
    .where('locked_by', '=', workerId)
    .compile()
}

/**
 * What to record when a job dies, in the transaction that buries it (so the record, typically a
 * note for the team, cannot be lost between the two).
 */
export type DeadHandler = (trx: Tx, job: Job, error: string) => Promise<void>

export interface Failure {
  job: Job
  workerId: string
  error: string
  /** When to try again; null: never. */
  runAt: number | null
  now: number
  onDead?: DeadHandler | undefined
}

/**
 * Reschedules a failed job at `runAt`, or buries it when it has no attempts left or must not retry:
 * a transaction, since whether the job was still ours decides whether its dead handler writes.
 */
export async function failJob(store: Store, { job, workerId, error, runAt, now, onDead }: Failure): Promise<JobState> {
  const dead = runAt === null || job.attempts >= job.max_attempts
  const state: JobState = dead ? 'dead' : 'waiting'
  await store.transaction(async (trx) => {
    const result = await trx
      .updateTable('jobs')
      .set({
        state,
        run_at: dead ? job.run_at : runAt,
        locked_by: null,
        locked_until: null,
        last_error: error.slice(0, 4000),
        updated_at: now,
      })
      .where('id', '=', job.id)
      .where('locked_by', '=', workerId)
      .executeTakeFirst()
    if (dead && onDead && Number(result.numUpdatedRows) > 0) await onDead(trx, job, error)
  })
  return state
}

/** Pushes the lease of jobs still running (`ids`, at least one) forward, so no other worker takes them over. */
export function extendLeases(workerId: string, ids: number[], lockedUntil: number, now: number): Statement {
  return compiler
    .updateTable('jobs')
    .set({ locked_until: lockedUntil, updated_at: now })
    .where('id', 'in', ids)
    .where('locked_by', '=', workerId)
    .where('state', '=', 'running')
    .compile()
}

/**
 * The earliest future time a waiting job becomes due, or null. Jobs already due but held back by
 * their ordering key are left out: they become eligible when the job ahead of them settles.
 */
export async function nextRunAt(db: Executor, now: number): Promise<number | null> {
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.min('run_at').as('next'))
    .where('state', '=', 'waiting')
    .where('run_at', '>', now)
    .executeTakeFirst()
  return row?.next ?? null
}

export async function listJobs(db: Executor, state?: JobState, limit = 100): Promise<Job[]> {
  let q = db.selectFrom('jobs').selectAll().orderBy('id').limit(limit)
  if (state) q = q.where('state', '=', state)
  return q.execute()
}

/**
 * Brings the turn of the waiting job with this key forward to `now`: a recurring job whose next turn
 * should not be waited for. A job already running, or dead, is left to its state.
 */
export function runKeyedJobNow(key: string, now = Date.now()): Statement {
  return runWaitingNow('key', [key], now)
}

/** Brings the waiting jobs of these tasks held for later forward to `now` (a paused sender resumed): each runs and asks again. */
export function runTasksNow(tasks: string[], now: number): Statement {
  return runWaitingNow('task', tasks, now)
}

function runWaitingNow(column: 'key' | 'task', values: string[], now: number): Statement {
  return queuesWork(
    compiler
      .updateTable('jobs')
      .set({ run_at: now, updated_at: now })
      .where(column, 'in', values)
      .where('state', '=', 'waiting')
      .where('run_at', '>', now)
      .compile(),
  )
}

/** Gives a dead job a fresh set of attempts. */
export async function retryDeadJob(store: Store, id: number, now = Date.now()): Promise<boolean> {
  return (await retryDeadJobs(store, { id }, now)) > 0
}

/** Gives dead jobs a fresh set of attempts: one (`id`), or every one (of one `task`). Returns how many. */
export async function retryDeadJobs(
  store: Store,
  which: { id: number } | { task?: string | undefined },
  now = Date.now(),
): Promise<number> {
  let q = compiler.updateTable('jobs').set({ state: 'waiting', attempts: 0, run_at: now, updated_at: now }).where('state', '=', 'dead')
  if ('id' in which) q = q.where('id', '=', which.id)
  else if (which.task !== undefined) q = q.where('task', '=', which.task)
  const [retried] = await store.run(queuesWork(q.compile()))
  return Number(retried.numAffectedRows ?? 0n)
}

/** Dead jobs by task, most first. */
export async function deadJobsByTask(db: Executor): Promise<Array<{ task: string; count: number }>> {
  const rows = await db
    .selectFrom('jobs')
    .select(['task', (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', '=', 'dead')
    .groupBy('task')
    .execute()
  return rows.map((r) => ({ task: r.task, count: Number(r.n) })).sort((a, b) => b.count - a.count || a.task.localeCompare(b.task))
}

export async function discardDeadJob(store: Store, id: number): Promise<boolean> {
  const [deleted] = await store.run(compiler.deleteFrom('jobs').where('id', '=', id).where('state', '=', 'dead').compile())
  return (deleted.numAffectedRows ?? 0n) > 0n
}

export interface QueueStats {
  waiting: number
  running: number
  dead: number
  /** Age in ms of the oldest job that is due but not yet running, 0 when none. */
  oldestDueAgeMs: number
}

export async function queueStats(db: Executor, now = Date.now()): Promise<QueueStats> {
  const rows = await db
    .selectFrom('jobs')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute()
  const oldest = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.min('run_at').as('oldest'))
    .where('state', '=', 'waiting')
    .where('run_at', '<=', now)
    .executeTakeFirst()
  const count = (s: JobState) => Number(rows.find((r) => r.state === s)?.n ?? 0)
  return {
    waiting: count('waiting'),
    running: count('running'),
    dead: count('dead'),
    oldestDueAgeMs: oldest?.oldest ? now - oldest.oldest : 0,
  }
}

/** Jobs running, or waiting and due by `upTo` (but those of `except`): what a test waits for. */
export async function pendingJobs(
  db: Executor,
  upTo: number,
  except: readonly string[],
): Promise<Array<Pick<Job, 'id' | 'task' | 'state' | 'run_at' | 'last_error'>>> {
  let q = db
    .selectFrom('jobs')
    .select(['id', 'task', 'state', 'run_at', 'last_error'])
    .where((eb) => eb.or([eb('state', '=', 'running'), eb.and([eb('state', '=', 'waiting'), eb('run_at', '<=', upTo)])]))
  if (except.length > 0) q = q.where('task', 'not in', except)
  return q.orderBy('id').execute()
}
