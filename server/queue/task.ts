import type { z } from 'zod'
import type { Statement } from '../../shared/db/statement.js'
import type { Tx } from '../../shared/db/database.js'
import type { Job } from '../../shared/db/schema.js'
import { enqueue, enqueueAfterChange, enqueueAfterInsert } from './queue.js'
import { DEFAULT_LANE, type Lane } from './lanes.js'
import type { JobContext, TaskDefinition, TaskResult } from './worker.js'

/** How a task's key functions look: each spells one key from the facts its writer has. */
type KeyFunctions = Record<string, (...args: never[]) => string>

/** What `defineTask` takes besides the name and the payload: the handler, and the keys of its jobs. */
export interface TaskSpec<P, D, K extends KeyFunctions> {
  /**
   * Runs one job, with the service's dependencies `D`. A task succeeds only by returning; any throw
   * reschedules it with backoff (RetryLaterError chooses the delay, PermanentError gives up at once).
   * Handlers must be idempotent: after a crash a job runs again.
   */
  run(deps: D, payload: P, ctx: JobContext): Promise<void | TaskResult>
  /** What to record when a job of this task dies, in the transaction that buries it. */
  onDead?(trx: Tx, payload: P, job: Job, error: string): Promise<void>
  /** The job keys of this task (every task's jobs have one), so every writer spells a key alike. */
  keys: K
  /**
   * The lane its jobs wait in (lanes.ts): 'reply' when a person waits for it (a teammate's reply, a
   * sidebar send, a verification code), 'inbound' (the default) for a customer's text on its way in
   * and what goes with it, 'automated' for texts the bridge starts, 'bulk' for many at once.
   */
  lane?: Lane
}

/** A task as `enqueueTask` needs it: the name, and the payload it carries (which types the payload). */
export interface TaskRef<P> {
  readonly name: string
  readonly payload: z.ZodType<P>
  /** Its jobs' lane; none: the default. */
  readonly lane?: Lane
}

/** A task declared once: its name, payload schema, handler and keys. `defineTask` makes one. */
export interface Task<P = unknown, D = never, K extends KeyFunctions = KeyFunctions> extends TaskRef<P> {
  readonly keys: K
  readonly lane: Lane
  run(deps: D, payload: P, ctx: JobContext): Promise<void | TaskResult>
  onDead?(trx: Tx, payload: P, job: Job, error: string): Promise<void>
}

/** Every task defined in this process, by name: `bindTasks` checks the worker runs each of them. */
const defined = new Map<string, Task<unknown, never>>()

/**
 * Declares a task beside the code that runs it (graphile-worker's task list, typed): the payload is
 * `unknown` until the worker checks it against `payload`, so a stored payload that no longer fits
 * (written by an older version, or edited by hand) fails that job alone, clearly. The reference it
 * returns is what `enqueueTask` takes, so the payload's type follows from the task. A name defined
 * twice is an error when the second module loads.
 */
export function defineTask<P, D, K extends KeyFunctions>(
  name: string,
  payload: z.ZodType<P>,
  spec: TaskSpec<NoInfer<P>, D, K>,
): Task<P, D, K> {
  if (defined.has(name)) throw new Error(`task "${name}" is defined twice`)
  const task: Task<P, D, K> = { name, payload, ...spec, lane: spec.lane ?? DEFAULT_LANE }
  defined.set(name, task)
  return task
}

/**
 * The worker's task list: each task's handler bound to `deps`. Every defined task must be in `tasks`
 * exactly once, or the service does not start: a job nobody runs would wait, then die, unnoticed.
 */
export function bindTasks<D>(deps: D, tasks: ReadonlyArray<Task<unknown, D>>): Record<string, TaskDefinition> {
  const bound: Record<string, TaskDefinition> = {}
  for (const task of tasks) {
    if (bound[task.name]) throw new Error(`task "${task.name}" is in the worker's list twice`)
    const onDead = task.onDead?.bind(task)
    bound[task.name] = { payload: task.payload, run: (payload, ctx) => task.run(deps, payload, ctx), ...(onDead ? { onDead } : {}) }
  }
  const missing = [...defined.keys()].filter((name) => !bound[name])
  if (missing.length > 0)
    throw new Error(
      `no handler registered for task ${missing.map((n) => `"${n}"`).join(', ')}: add it to the worker's list (server/tasks.ts)`,
    )
  return bound
}

export interface EnqueueOptions {
  /** While a job with this key exists (waiting, running or dead), queueing it again does nothing. */
  key?: string | undefined
  /** Jobs with the same ordering key run one at a time, in the order they were queued. */
  queueKey?: string | undefined
  runAt?: number | undefined
  maxAttempts?: number | undefined
}

/**
 * Queues a task, its payload checked: a statement to run with the writes the job is about, so the job
 * exists exactly when they do (one row changed, or none when the key is taken). The store wakes the
 * worker once it commits. `now` is the bridge's clock's: a job's time is never the wall clock's.
 */
export function enqueueTask<P>(task: TaskRef<P>, payload: NoInfer<P>, options: EnqueueOptions, now: number): Statement {
  return enqueue({ task: task.name, payload, lane: task.lane, ...options }, now)
}

/** The payload fields that can hold a row's id. */
type IdField<P> = { [F in keyof P & string]: P[F] extends number ? F : never }[keyof P & string]

/**
 * `enqueueTask` to follow an INSERT (queue.ts enqueueAfterInsert): the job is added only when that
 * INSERT added a row, its payload's field `idField` set to the new row's id.
 */
export function enqueueTaskAfterInsert<P extends Record<string, unknown>>(
  task: TaskRef<P>,
  payload: NoInfer<P>,
  options: EnqueueOptions & { idField: IdField<P> },
  now: number,
): Statement {
  const { idField, ...rest } = options
  return enqueueAfterInsert({ task: task.name, payload, lane: task.lane, ...rest }, idField, now)
}

/** `enqueueTask` to follow an UPDATE (queue.ts enqueueAfterChange): the job is added only when it changed a row. */
export function enqueueTaskAfterChange<P>(task: TaskRef<P>, payload: NoInfer<P>, options: EnqueueOptions, now: number): Statement {
  return enqueueAfterChange({ task: task.name, payload, lane: task.lane, ...options }, now)
}
