import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { createClient, type Client } from '@libsql/client'
import LocalDatabase from 'libsql'
import { Kysely, sql, type CompiledQuery, type Dialect, type DialectAdapter, type QueryResult, type Transaction } from 'kysely'
import { Migrator, type Migration, type MigrationProvider } from 'kysely'
import { LibsqlDialect } from 'kysely-libsql'
import { LocalDialect, LocalEngine, TransactionalDdlAdapter } from './local-dialect.js'
import { migrationProvider, LATEST_MIGRATION } from './migrations/index.js'
import type { Database } from './schema.js'
import { backupBeforeMigrating, recordVersion, refuseNewerDatabase, type BeforeMigrating } from './versions.js'
import { VERSION } from '../version.js'

export type Db = Kysely<Database>
export type Tx = Transaction<Database>
/** Either the database or a transaction: repositories accept both. */
export type Executor = Db | Tx

/**
 * A write known in advance: statements whose arguments do not depend on each other's results in
 * code (a later one may read what an earlier one wrote, in SQL). The store runs them in order, in
 * one transaction with the other writes of the group commit; on a remote database a group commit
 * of planned writes only is one request (one round trip) instead of one per statement.
 */
export interface PlannedWrite {
  queries: CompiledQuery[]
  /** The statements may queue a job: the worker is woken when they commit. */
  readiesJobs?: boolean
}

export interface Store {
  /** For reads (and compiling planned writes). Writes go through `write` or `writePlanned`, never through this directly. */
  readonly db: Db
  /**
   * Runs `fn` in a write transaction (BEGIN IMMEDIATE). One query or transaction at a time uses the
   * database in this process; this lane is the one door all writes go through, so they can be refused
   * after close and batched into one commit where that pays. Other processes on the same file wait on
   * SQLite's lock, up to the busy timeout. Never do network I/O inside `fn`: everything else in the
   * process waits for it. `fn` may run more than once (see group commit below): it must not change
   * anything outside the transaction.
   */
  write<T>(fn: (trx: Tx) => Promise<T>): Promise<T>
  /** Runs a planned write (see PlannedWrite) and answers each statement's result once committed. */
  writePlanned(plan: PlannedWrite): Promise<QueryResult<unknown>[]>
  /**
   * Calls `listener` after each commit of a transaction that made a job ready to run (see
   * `markJobsReady`): the worker is woken by the store, never by the code that queued. Returns a
   * function that stops the calls.
   */
  onJobsReady(listener: () => void): () => void
  /** Runs `fn` with the write lane held but no transaction open, for code that opens its own. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  readonly url: string
  readonly isLocalFile: boolean
  /** Write transactions committed so far (fewer than `writes` when commits were shared). */
  readonly commits: number
  /** Writes committed so far. */
  readonly writes: number
  /**
   * Embedded file: copies what the write-ahead log holds into the database file without waiting for
   * anyone (SQLite does so by itself only past 1,000 pages). Returns the pages still in the log only.
   * Remote databases have no log of ours: nothing to do.
   */
  checkpoint(): Promise<{ pagesLeft: number }>
  /**
   * Embedded file: writes a consistent copy of the whole database to `path` (SQLite's VACUUM INTO,
   * one read transaction, so writers carry on), synced to disk. Refuses a path that exists.
   * Remote (Turso): refused; Turso keeps its own point-in-time backups.
   */
  backup(path: string): Promise<{ bytes: number }>
  /** Waits for the writes in flight, checkpoints and truncates the log (embedded file) and closes. */
  close(): Promise<void>
}

/** Transactions that queued a job (or made one due) and have not yet committed. */
const readyIn = new WeakSet<Tx>()

/** Says that `trx` made a job ready to run: when it commits, the store tells its listeners (the worker). */
export function markJobsReady(trx: Tx): void {
  readyIn.add(trx)
}

/** The most writes one commit carries. */
const MAX_BATCH = 200

/** Turso: @libsql/client over the network, through kysely-libsql. */
class RemoteDialect extends LibsqlDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlAdapter()
  }
}

export interface OpenOptions {
  url: string
  authToken?: string | undefined
  /** How long a statement waits for another process's lock before failing (local files). */
  busyTimeoutMs?: number
}

export async function openStore(options: OpenOptions): Promise<Store> {
  const memory = options.url === ':memory:' || options.url === 'file::memory:'
  const isLocalFile = options.url.startsWith('file:') && !memory
  let dialect: Dialect
  let closeClient = () => {}
  let remote: Client | undefined
  let engine: LocalEngine | undefined
  if (isLocalFile || memory) {
    // The embedded database, through libSQL's own engine with its prepared statements kept.
    const path = memory ? ':memory:' : options.url.slice('file:'.length).replace(/\?.*$/, '')
    if (!memory) createOwnerOnly(path)
    engine = new LocalEngine({ path, memory, busyTimeoutMs: options.busyTimeoutMs ?? 10_000 })
    dialect = new LocalDialect(engine)
  } else {
    const client: Client = createClient({ url: options.url, authToken: options.authToken })
    remote = client
    dialect = new RemoteDialect({ client })
    closeClient = () => client.close()
  }
  const db = new Kysely<Database>({ dialect })

  let tail: Promise<unknown> = Promise.resolve()
  let closed = false
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error('the database is closed'))
    const run = tail.then(fn)
    tail = run.catch(() => undefined)
    return run
  }

  // Group commit: writes that arrive while a commit is under way share the next transaction, so one
  // commit (and one fsync) serves many webhooks. Each caller's promise settles only after the
  // commit: answered means stored. The batch runs without savepoints (they cost two statements a
  // write); if any write in it fails, the whole transaction rolls back and each write runs again in
  // a transaction of its own, so only the failing one fails. Hence a write function may run twice,
  // and must not touch anything but the transaction.
  interface Pending {
    fn: (trx: Tx) => Promise<unknown>
    /** Set for a planned write: the group commit may send it in one request with the others. */
    plan?: PlannedWrite
    resolve: (value: unknown) => void
    reject: (error: unknown) => void
  }
  // The planned writes of a group commit, on a remote database: BEGIN, every statement and COMMIT in
  // one request (libSQL's batch, a non-interactive transaction). False when it rolled back.
  const sendBatch = async (batch: Pending[]): Promise<boolean> => {
    const statements = batch.flatMap((item) => item.plan!.queries.map((q) => ({ sql: q.sql, args: q.parameters as never[] })))
    let results
    try {
      results = await remote!.batch(statements, 'write')
    } catch {
      return false
    }
    let at = 0
    const values = batch.map((item) =>
      item.plan!.queries.map(() => {
        const r = results[at++]!
        return { rows: r.rows as unknown[], numAffectedRows: BigInt(r.rowsAffected) }
      }),
    )
    commits++
    writes += batch.length
    batch.forEach((item, i) => item.resolve(values[i]))
    if (batch.some((item) => item.plan!.readiesJobs)) jobsReady()
    return true
  }
  let pending: Pending[] = []
  let draining = false
  let commits = 0
  let writes = 0
  const readyListeners = new Set<() => void>()
  // After the commit, never inside it: a listener that reads sees what was committed.
  const jobsReady = () => {
    for (const listener of readyListeners) listener()
  }
  const committed = (trx: Tx | undefined) => {
    if (!trx || !readyIn.has(trx)) return
    readyIn.delete(trx)
    jobsReady()
  }
  const runAlone = (item: Pending) => {
    let used: Tx | undefined
    return db
      .transaction()
      .execute((trx) => {
        used = trx
        return item.fn(trx)
      })
      .then((value) => {
        commits++
        writes++
        item.resolve(value)
        committed(used)
      }, item.reject)
  }
  const drain = async () => {
    while (pending.length > 0) {
      // The embedded driver runs a whole transaction without giving the event loop a turn, so let
      // requests that have already arrived reach this point first and join the batch.
      await new Promise((resolve) => setImmediate(resolve))
      let batch = pending.splice(0, MAX_BATCH)
      if (remote && batch.some((item) => item.plan)) {
        // The planned writes go first, as one request; the others (the worker's, say) after them in
        // a transaction of their own. They arrived together, so neither waits for the other's result.
        const planned = batch.filter((item) => item.plan)
        batch = batch.filter((item) => !item.plan)
        if (!(await sendBatch(planned))) for (const item of planned) await runAlone(item)
        if (batch.length === 0) continue
      }
      if (batch.length > 1) {
        const values: unknown[] = []
        let used: Tx | undefined
        const ok = await db
          .transaction()
          .execute(async (trx) => {
            used = trx
            for (const item of batch) values.push(await item.fn(trx))
          })
          .then(
            () => true,
            () => false,
          )
        if (ok) {
          commits++
          writes += batch.length
          batch.forEach((item, i) => item.resolve(values[i]))
          committed(used)
          continue
        }
      }
      for (const item of batch) await runAlone(item)
    }
  }
  const schedule = (): void => {
    if (draining || pending.length === 0) return
    draining = true
    exclusive(drain)
      .catch((error) => {
        for (const item of pending.splice(0)) item.reject(error)
      })
      .finally(() => {
        draining = false
        // Writes that arrived after the last batch was taken, while the lane was being released.
        schedule()
      })
  }
  const submit = <T>(fn: (trx: Tx) => Promise<T>, plan?: PlannedWrite): Promise<T> => {
    if (closed) return Promise.reject(new Error('the database is closed'))
    return new Promise<T>((resolve, reject) => {
      pending.push({ fn, ...(plan ? { plan } : {}), resolve: resolve as (v: unknown) => void, reject })
      schedule()
    })
  }
  const write = <T>(fn: (trx: Tx) => Promise<T>): Promise<T> => submit(fn)
  // The same statements as a write function: what runs when they cannot go as one request (the
  // embedded file, or one by one after a batch rolled back).
  const writePlanned = (plan: PlannedWrite): Promise<QueryResult<unknown>[]> =>
    submit(async (trx) => {
      const results: QueryResult<unknown>[] = []
      for (const query of plan.queries) results.push(await trx.executeQuery(query))
      if (plan.readiesJobs) markJobsReady(trx)
      return results
    }, plan)
  return {
    db,
    url: options.url,
    isLocalFile,
    exclusive,
    write,
    writePlanned,
    onJobsReady(listener) {
      readyListeners.add(listener)
      return () => readyListeners.delete(listener)
    },
    get commits() {
      return commits
    },
    get writes() {
      return writes
    },
    checkpoint() {
      // In the lane, so it runs between transactions, never inside one of ours.
      return exclusive(async () => {
        if (!engine || !isLocalFile) return { pagesLeft: 0 }
        const { pages, checkpointed } = engine.checkpoint('PASSIVE')
        return { pagesLeft: Math.max(0, pages - checkpointed) }
      })
    },
    async backup(path) {
      if (!isLocalFile) {
        throw new Error(
          memory
            ? 'an in-memory database has nothing to back up'
            : 'the database is remote (Turso): use Turso\'s own backups (point-in-time restore, `turso db shell <db> .dump`); sms-bridge backup copies the embedded file',
        )
      }
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      // Created empty, owner-only and only if absent (VACUUM INTO fills an empty file), so a backup
      // is never readable by other accounts on the machine, and never overwrites a file.
      try {
        closeSync(openSync(path, 'wx', 0o600))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${path} already exists; name a new file (a backup never overwrites one)`)
        throw error
      }
      try {
        // A read transaction of its own: writers in this and other processes carry on meanwhile.
        await sql`VACUUM INTO ${path}`.execute(db)
        markWal(path)
      } catch (error) {
        rmSync(path, { force: true })
        throw error
      }
      const fd = openSync(path, 'r+')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      return { bytes: statSync(path).size }
    },
    async close() {
      if (closed) return
      closed = true
      await tail
      await db.destroy()
      closeClient()
    },
  }
}

/**
 * Puts the copy VACUUM INTO wrote in WAL mode, as the service's own file is: Turso's import (`turso
 * db import`, the move to Turso) takes only such a file. Nothing is logged yet, so the copy stays one
 * whole file: closing removes the empty log.
 */
function markWal(path: string): void {
  const copy = new LocalDatabase(path)
  try {
    copy.exec('PRAGMA journal_mode = WAL')
  } finally {
    copy.close()
  }
}

/**
 * The data folder and database file as the bridge creates them: owner-only (0700, 0600), since they
 * hold every number and text. SQLite gives the log files beside it the database file's mode. Files
 * and folders that already exist keep theirs: the operator chose them.
 */
/**
 * Creates the database file (owner only) after checking its folder takes new files: SQLite writes its
 * journal and WAL files beside the database, and without this check an unwritable folder shows up
 * later as libSQL's "unable to open database file" (SQLite code 14). A real file is written and
 * removed, since permission bits say nothing for root or a read-only mount.
 */
function createOwnerOnly(path: string): void {
  const folder = dirname(resolve(path))
  let what = `The data folder ${folder}`
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 })
    const probe = join(folder, `.bridge-write-check-${process.pid}`)
    closeSync(openSync(probe, 'w', 0o600))
    unlinkSync(probe)
    what = `The database file ${resolve(path)}`
    closeSync(openSync(path, 'a', 0o600))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'part of that path is a file, not a folder' : code === 'EROFS' ? 'it is on a read-only file system' : 'no permission'
    throw new Error(`${what} cannot be written by this process (${code}: ${why}). The database and its journal files live in that folder: make it writable by the service's user, or point DATABASE_URL elsewhere.`, { cause: err })
  }
}

function migrator(db: Db, provider: MigrationProvider = migrationProvider): Migrator {
  return new Migrator({ db, provider })
}

/** A release as migrations see it: its version and the migrations it knows. */
export interface Release {
  version: string
  migrations: Record<string, Migration>
}

export interface MigrateOptions {
  /** Apply the migrations up to and including this one only (tests, the schema check's reference). */
  upTo?: string
  /** When this runs: names the automatic backup and ages the old ones (default: the wall clock). */
  now?: number
  /** Another release's version and migrations instead of this one's (tests: a newer build upgrading). */
  release?: Release
}

/** The migrations applied, and what was done first to keep a way back (see backupBeforeMigrating). */
export type MigrateOutcome = { applied: string[] } & BeforeMigrating

/**
 * Applies every pending migration (or those up to `upTo`). A database a newer release migrated is
 * refused first (NewerDatabaseError, which says the way back); one that holds data is backed up
 * first. A migration to the latest records this release in bridge_versions.
 */
export async function migrate(store: Store, options: MigrateOptions = {}): Promise<MigrateOutcome> {
  const { upTo, now = Date.now() } = options
  const release = options.release ?? { version: VERSION, migrations: await migrationProvider.getMigrations() }
  const known = Object.keys(release.migrations).sort()
  // The Migrator opens its own transactions; keep it in the write lane like every other writer.
  return store.exclusive(async () => {
    await refuseNewerDatabase(store, known, release.version)
    const m = migrator(store.db, { getMigrations: async () => release.migrations })
    const listed = await m.getMigrations()
    const pending = listed.some((l) => l.executedAt === undefined && (!upTo || l.name <= upTo))
    const before = pending && listed.some((l) => l.executedAt !== undefined) ? await backupBeforeMigrating(store, release.version, now) : {}
    const { error, results } = upTo ? await m.migrateTo(upTo) : await m.migrateToLatest()
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')
      const what = failed ? `migration ${failed.migrationName} failed` : 'migrations failed'
      throw new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    }
    const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
    if (!upTo && applied.length > 0) await recordVersion(store.db, { version: release.version, known }, now)
    return { applied, ...before }
  })
}

/** Names of migrations not yet applied to this database. */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const all = await migrator(store.db).getMigrations()
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name)
}

export async function ping(store: Store): Promise<void> {
  await sql`select 1`.execute(store.db)
}

export { LATEST_MIGRATION }
