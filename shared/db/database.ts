import { sql, type Kysely, type Transaction } from 'kysely'
import { Migrator, type Migration, type MigrationProvider } from 'kysely'
import type { Results, Statement } from './statement.js'
import { migrationProvider, LATEST_MIGRATION } from './migrations/index.js'
import type { Database } from './schema.js'
import { backupBeforeMigrating, recordVersion, refuseNewerDatabase, type BeforeMigrating } from './versions.js'
import { VERSION } from '../version.js'
import { errorMessage } from '../errors.js'

export type Db = Kysely<Database>
export type Tx = Transaction<Database>
/** Either the database or a transaction: repositories accept both. */
export type Executor = Db | Tx

export type { Results, Statement } from './statement.js'
export { openStore } from './open.js'

/**
 * The database (shared/db/open.ts opens it). Two ways to write, both through one lane that group
 * commits (shared/db/write-lane.ts): `run`, for statements known in advance (every repository write
 * is one), and `transaction`, only where a read decides a write.
 */
export interface Store {
  /** For reads. Writes go through `run` or `transaction`, never through this directly. */
  readonly db: Db
  /**
   * Runs statements in order, in one transaction with the other writes of the group commit, and
   * answers each one's result, typed, once committed. On a remote database a group commit of them is
   * one request (one round trip) instead of one per statement. When a statement queued work (the
   * queue's statements say so), the worker is woken after the commit.
   */
  run<S extends readonly Statement[]>(...statements: S): Promise<Results<S>>
  /**
   * Runs `fn` in a write transaction (BEGIN IMMEDIATE): only where a read decides what to write (a
   * cap, a verification's tries, a failed job). Other processes on the same file wait on SQLite's
   * lock, up to the busy timeout. Never do network I/O inside `fn`: everything else in the process
   * waits for it. `fn` may run more than once (a group commit that rolled back runs each write
   * alone): it must not change anything outside the transaction. Statements it runs with `runIn`
   * wake the worker as `run`'s do.
   */
  transaction<T>(fn: (trx: Tx) => Promise<T>): Promise<T>
  /**
   * Calls `listener` after each commit that queued work: the worker is woken by the store, never by
   * the code that queued. Returns a function that stops the calls.
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

export interface OpenOptions {
  url: string
  authToken?: string | undefined
  /** How long a statement waits for another process's lock before failing (local files). */
  busyTimeoutMs?: number
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
      throw new Error(`${what}: ${errorMessage(error)}`, { cause: error })
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
