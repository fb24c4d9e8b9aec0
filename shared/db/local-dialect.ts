import Database from 'libsql'
import {
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely'

/**
 * The embedded database (a `file:` URL, or `:memory:`) through libSQL's own engine, the one
 * @libsql/client drives for files, but keeping its prepared statements: the client prepares every
 * statement again each time it runs, and for the bridge's few dozen distinct statements that was a
 * tenth of the service's CPU under webhook load. Remote databases (Turso) go through @libsql/client
 * and kysely-libsql.
 */
export class LocalDialect implements Dialect {
  constructor(private readonly engine: LocalEngine) {}
  createAdapter(): DialectAdapter {
    return new TransactionalDdlAdapter()
  }
  createDriver(): Driver {
    return new LocalDriver(this.engine)
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db)
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler()
  }
}

/**
 * SQLite runs DDL inside transactions, but Kysely's adapter says it cannot, so its Migrator would
 * apply each migration bare and take no lock (it assumes one process). Two processes starting on
 * one file would then both apply the same migration. Saying so lets the Migrator read the applied
 * migrations and apply the rest inside one BEGIN IMMEDIATE transaction: the second process waits
 * for the first, then finds nothing left to do.
 */
export class TransactionalDdlAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}

export interface EngineOptions {
  path: string
  memory: boolean
  /** How long a statement waits for another process's lock before failing. */
  busyTimeoutMs: number
}

type Connection = InstanceType<typeof Database>
type Statement = ReturnType<Connection['prepare']>

/** Statements kept per connection; the bridge uses a few dozen distinct ones. */
const CACHE_SIZE = 500
/**
 * Not kept: savepoints (their names vary) and pragmas (rare). BEGIN, COMMIT and ROLLBACK are kept on
 * purpose: a statement that fails with SQLITE_BUSY (a BEGIN IMMEDIATE that waited out the busy timeout
 * on another process's lock) stays "in progress" until it is run again or collected, and until then
 * the connection refuses to commit. Kept, the next BEGIN runs that same statement, which resets it.
 */
const UNCACHED = /^\s*(savepoint|release|pragma)\b/i

class StatementCache {
  readonly #entries = new Map<string, { statement: Statement; reader: boolean }>()
  constructor(readonly connection: Connection) {}

  get(sql: string): { statement: Statement; reader: boolean } {
    const hit = this.#entries.get(sql)
    if (hit) {
      // Most recently used last, so the first entry is the one to evict.
      this.#entries.delete(sql)
      this.#entries.set(sql, hit)
      return hit
    }
    const statement = this.connection.prepare(sql)
    const entry = { statement, reader: statement.reader }
    if (!UNCACHED.test(sql)) {
      this.#entries.set(sql, entry)
      const oldest = this.#entries.keys().next().value
      if (this.#entries.size > CACHE_SIZE && oldest !== undefined) this.#entries.delete(oldest)
    }
    return entry
  }
}

/** What @libsql/client does with JavaScript values, so both drivers store the same thing. */
function toSql(value: unknown): unknown {
  switch (typeof value) {
    case 'boolean':
      return value ? 1 : 0
    case 'undefined':
      throw new TypeError('undefined cannot be passed as argument to the database')
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError('Only finite numbers (not Infinity or NaN) can be passed as arguments')
      return value
    default:
      if (value instanceof Date) return value.valueOf()
      if (value instanceof ArrayBuffer) return Buffer.from(value)
      return value
  }
}

/**
 * One connection to the file. Kysely lets one query or transaction at a time use it (its SQLite
 * adapter says the driver has a single connection), so a read never sees a transaction in progress.
 * Statements run synchronously, as in @libsql/client.
 */
export class LocalEngine {
  readonly #statements: StatementCache
  readonly memory: boolean
  #closed = false

  constructor(options: EngineOptions) {
    this.memory = options.memory
    const connection = new Database(options.path, { timeout: options.busyTimeoutMs })
    // WAL lets other processes read beside this one's writer and commits about ten times faster
    // than the rollback journal; synchronous stays FULL so an acknowledged commit survives a power cut.
    if (!options.memory) connection.exec('PRAGMA journal_mode = WAL')
    connection.exec('PRAGMA synchronous = FULL')
    this.#statements = new StatementCache(connection)
  }

  /** Runs one statement; rejects with SQLite's error (message, code) when it fails. */
  async run(sql: string, parameters: readonly unknown[]): Promise<QueryResult<Record<string, unknown>>> {
    if (this.#closed) throw new Error('the database is closed')
    const { statement, reader } = this.#statements.get(sql)
    const values = parameters.map(toSql)
    // all() and run() reset a kept statement before binding; get() does not, so it is never used.
    if (reader) return { rows: statement.all(values) as Record<string, unknown>[] }
    const { changes, lastInsertRowid } = statement.run(values)
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) }
  }

  /**
   * Copies what the write-ahead log holds into the database file. PASSIVE takes what it can without
   * waiting for anyone; TRUNCATE waits (up to the busy timeout) for readers and writers of other
   * processes, copies everything and empties the log file.
   */
  checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): { busy: boolean; pages: number; checkpointed: number } {
    if (this.#closed) throw new Error('the database is closed')
    const [row] = this.#statements.connection.prepare(`PRAGMA wal_checkpoint(${mode})`).all([]) as Array<{
      busy: number
      log: number
      checkpointed: number
    }>
    return { busy: row?.busy === 1, pages: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 }
  }

  /**
   * Closes the connection, first moving everything in the write-ahead log into the database file, so
   * that the file alone is the whole database (a copy of just `bridge.db` is a complete backup once
   * the service has stopped). SQLite does this by itself only when the last connection closes with
   * every statement finalised; libSQL's binding has no finalise, and the kept statements would leave
   * the log full. When another process still uses the file, TRUNCATE reports busy: that process
   * checkpoints when it closes.
   */
  close(): void {
    if (this.#closed) return
    if (!this.memory) {
      try {
        // Another process writing must not hold this one's exit for the whole busy timeout.
        this.#statements.connection.exec('PRAGMA busy_timeout = 1000')
        this.checkpoint('TRUNCATE')
      } catch {
        // Closing must not fail: the log stays, SQLite replays it on the next open.
      }
    }
    this.#closed = true
    this.#statements.connection.close()
  }
}

class LocalDriver implements Driver {
  // One connection per process, used by one query or transaction at a time (as Kysely's own SQLite
  // driver does): a statement outside a transaction waits for the open transaction to end.
  #held: Promise<void> = Promise.resolve()
  #release: (() => void) | null = null
  constructor(private readonly engine: LocalEngine) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#held
    let release!: () => void
    this.#held = new Promise<void>((resolve) => (release = resolve))
    await previous
    this.#release = release
    return new LocalConnection(this.engine)
  }
  async beginTransaction(): Promise<void> {
    // IMMEDIATE takes the write lock now, so another process makes this wait at BEGIN (up to the
    // busy timeout) instead of failing halfway through.
    await this.engine.run('BEGIN IMMEDIATE', [])
  }
  async commitTransaction(): Promise<void> {
    try {
      await this.engine.run('COMMIT', [])
    } catch (error) {
      // A failed COMMIT leaves the transaction open: roll it back so the next one can begin.
      await this.engine.run('ROLLBACK', []).catch(() => undefined)
      throw error
    }
  }
  async rollbackTransaction(): Promise<void> {
    // SQLite may already have rolled back by itself, in which case ROLLBACK says so; ignore that.
    await this.engine.run('ROLLBACK', []).catch((error: Error) => {
      if (!/no transaction is active/i.test(error.message)) throw error
    })
  }
  async releaseConnection(): Promise<void> {
    const release = this.#release
    this.#release = null
    release?.()
  }
  async destroy(): Promise<void> {
    this.engine.close()
  }
}

class LocalConnection implements DatabaseConnection {
  constructor(private readonly engine: LocalEngine) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // Kysely types the rows from the query it built; SQLite hands back plain records.
    return (await this.engine.run(compiled.sql, compiled.parameters)) as QueryResult<R>
  }

  // eslint-disable-next-line require-yield
  async *streamQuery(): AsyncIterableIterator<QueryResult<never>> {
    throw new Error('streaming queries is not supported')
  }
}
