import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { createClient, type Client } from '@libsql/client'
import { Kysely, type DialectAdapter } from 'kysely'
import { LibsqlDialect } from 'kysely-libsql'
import { backup, checkpoint, noBackup } from './checkpoint-backup.js'
import type { OpenOptions, Store } from './database.js'
import { LocalDialect, LocalEngine, TransactionalDdlAdapter } from './local-dialect.js'
import type { Database } from './schema.js'
import { WriteLane } from './write-lane.js'

/** Turso: @libsql/client over the network, through kysely-libsql. */
class RemoteDialect extends LibsqlDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlAdapter()
  }
}

/** The database `options.url` names: the embedded file (or memory), or Turso over the network. */
function connect(options: OpenOptions): { db: Kysely<Database>; engine?: LocalEngine; remote?: Client; memory: boolean } {
  const memory = options.url === ':memory:' || options.url === 'file::memory:'
  if (options.url.startsWith('file:') || memory) {
    // The embedded database, through libSQL's own engine with its prepared statements kept.
    const path = memory ? ':memory:' : options.url.slice('file:'.length).replace(/\?.*$/, '')
    if (!memory) createOwnerOnly(path)
    const engine = new LocalEngine({ path, memory, busyTimeoutMs: options.busyTimeoutMs ?? 10_000 })
    return { db: new Kysely<Database>({ dialect: new LocalDialect(engine) }), engine, memory }
  }
  const remote = createClient({ url: options.url, authToken: options.authToken })
  return { db: new Kysely<Database>({ dialect: new RemoteDialect({ client: remote }) }), remote, memory }
}

export async function openStore(options: OpenOptions): Promise<Store> {
  const { db, engine, remote, memory } = connect(options)
  const isLocalFile = engine !== undefined && !memory
  const lane = new WriteLane(db, remote)
  let closed = false
  return {
    db,
    url: options.url,
    isLocalFile,
    exclusive: (fn) => lane.exclusive(fn),
    run: (...statements) => lane.run(...statements),
    transaction: (fn) => lane.transaction(fn),
    onJobsReady: (listener) => lane.onJobsReady(listener),
    get commits() {
      return lane.commits
    },
    get writes() {
      return lane.writes
    },
    // In the lane, so it runs between transactions, never inside one of ours.
    checkpoint: () => lane.exclusive(async () => (engine && isLocalFile ? checkpoint(engine) : { pagesLeft: 0 })),
    backup: async (path) => {
      if (!isLocalFile) throw noBackup(memory)
      return backup(db, path)
    },
    async close() {
      if (closed) return
      closed = true
      await lane.close()
      await db.destroy()
      remote?.close()
    },
  }
}

/**
 * Creates the database file (owner only) after checking its folder takes new files: SQLite writes its
 * journal and WAL files beside the database, and without this check an unwritable folder shows up
 * later as libSQL's "unable to open database file" (SQLite code 14). A real file is written and
 * removed, since permission bits say nothing for root or a read-only mount. Files and folders that
 * already exist keep their mode: the operator chose it.
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
    const why =
      code === 'ENOTDIR' || code === 'EEXIST'
        ? 'part of that path is a file, not a folder'
        : code === 'EROFS'
          ? 'it is on a read-only file system'
          : 'no permission'
    throw new Error(
      `${what} cannot be written by this process (${code}: ${why}). The database and its journal files live in that folder: make it writable by the service's user, or point DATABASE_URL elsewhere.`,
      { cause: err },
    )
  }
}
