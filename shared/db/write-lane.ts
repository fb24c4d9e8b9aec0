import type { Client } from '@libsql/client'
import type { Kysely, Transaction } from 'kysely'
import { sendBatch } from './remote-batch.js'
import type { Database } from './schema.js'
import { runIn, takeQueuedWork, type Results, type Statement } from './statement.js'

type Tx = Transaction<Database>

/** The most writes one commit carries. */
const MAX_BATCH = 200

/** A write waiting for its commit: the statements of a `run`, or a transaction's function. */
interface Pending {
  /** Set for a `run`: on a remote database its statements may go in one request with the others'. */
  statements?: readonly Statement[]
  fn: (trx: Tx) => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/**
 * The one door every write goes through. One query or transaction at a time uses the database in
 * this process, so writes can be refused after close and batched into one commit where that pays.
 *
 * Group commit: writes that arrive while a commit is under way share the next transaction, so one
 * commit (and one fsync) serves many webhooks. Each caller's promise settles only after the commit:
 * answered means stored. The batch runs without savepoints (they cost two statements a write); if
 * any write in it fails, the whole transaction rolls back and each write runs again in a transaction
 * of its own, so only the failing one fails. Hence a transaction's function may run twice, and must
 * not touch anything but the transaction.
 */
export class WriteLane {
  /** Write transactions committed so far (fewer than `writes` when commits were shared). */
  commits = 0
  /** Writes committed so far. */
  writes = 0
  private tail: Promise<unknown> = Promise.resolve()
  private closed = false
  private pending: Pending[] = []
  private draining = false
  private readonly listeners = new Set<() => void>()

  /** `remote`: a Turso client, whose batches run a group commit's statements in one request. */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly remote: Client | undefined,
  ) {}

  /** Runs `fn` with the lane held but no transaction open, for code that opens its own. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the database is closed'))
    const run = this.tail.then(fn)
    this.tail = run.catch(() => undefined)
    return run
  }

  run<S extends readonly Statement[]>(...statements: S): Promise<Results<S>> {
    return this.submit({ statements, fn: (trx) => runIn(trx, ...statements) })
  }

  transaction<T>(fn: (trx: Tx) => Promise<T>): Promise<T> {
    return this.submit({ fn })
  }

  onJobsReady(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Refuses new writes and waits for those in flight. */
  async close(): Promise<void> {
    this.closed = true
    await this.tail
  }

  private submit<T>(item: Omit<Pending, 'resolve' | 'reject'>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the database is closed'))
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ ...item, resolve: resolve as (v: unknown) => void, reject })
      this.schedule()
    })
  }

  private schedule(): void {
    if (this.draining || this.pending.length === 0) return
    this.draining = true
    this.exclusive(() => this.drain())
      .catch((error) => {
        for (const item of this.pending.splice(0)) item.reject(error)
      })
      .finally(() => {
        this.draining = false
        // Writes that arrived after the last batch was taken, while the lane was being released.
        this.schedule()
      })
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      // The embedded driver runs a whole transaction without giving the event loop a turn, so let
      // requests that have already arrived reach this point first and join the batch.
      await new Promise((resolve) => setImmediate(resolve))
      let batch = this.pending.splice(0, MAX_BATCH)
      if (this.remote && batch.some((item) => item.statements)) {
        // The statements go first, as one request; the transactions (the worker's, say) after them
        // in a transaction of their own. They arrived together, so neither waits for the other.
        const planned = batch.filter((item) => item.statements)
        batch = batch.filter((item) => !item.statements)
        if (!(await this.commitRemote(this.remote, planned))) for (const item of planned) await this.runAlone(item)
        if (batch.length === 0) continue
      }
      if (batch.length > 1 && (await this.runTogether(batch))) continue
      for (const item of batch) await this.runAlone(item)
    }
  }

  /** A batch in one transaction; false (nothing kept, nobody answered) when it rolled back. */
  private async runTogether(batch: Pending[]): Promise<boolean> {
    const values: unknown[] = []
    let used: Tx | undefined
    const ok = await this.db
      .transaction()
      .execute(async (trx) => {
        used = trx
        for (const item of batch) values.push(await item.fn(trx))
      })
      .then(
        () => true,
        () => false,
      )
    if (!ok) return false
    this.count(batch.length)
    batch.forEach((item, i) => item.resolve(values[i]))
    this.wakeIf(used !== undefined && takeQueuedWork(used))
    return true
  }

  private runAlone(item: Pending): Promise<void> {
    let used: Tx | undefined
    return this.db
      .transaction()
      .execute((trx) => {
        used = trx
        return item.fn(trx)
      })
      .then((value) => {
        this.count(1)
        item.resolve(value)
        this.wakeIf(used !== undefined && takeQueuedWork(used))
      }, item.reject)
  }

  /** A remote batch: every statement of `batch` in one request; false when it rolled back. */
  private async commitRemote(remote: Client, batch: Pending[]): Promise<boolean> {
    const results = await sendBatch(
      remote,
      batch.map((item) => item.statements!),
    )
    if (!results) return false
    this.count(batch.length)
    batch.forEach((item, i) => item.resolve(results[i]))
    this.wakeIf(batch.some((item) => item.statements!.some((s) => s.queuesWork)))
    return true
  }

  private count(writes: number): void {
    this.commits++
    this.writes += writes
  }

  /** After the commit, never inside it: a listener (the worker) that reads sees what was committed. */
  private wakeIf(queuedWork: boolean): void {
    if (queuedWork) for (const listener of this.listeners) listener()
  }
}
