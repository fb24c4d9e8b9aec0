import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import LocalDatabase from 'libsql'
import { sql, type Kysely } from 'kysely'
import type { LocalEngine } from './local-dialect.js'
import type { Database } from './schema.js'

/**
 * Copies what the write-ahead log holds into the database file without waiting for anyone (SQLite
 * does so by itself only past 1,000 pages). Returns the pages still in the log only.
 */
export function checkpoint(engine: LocalEngine): { pagesLeft: number } {
  const { pages, checkpointed } = engine.checkpoint('PASSIVE')
  return { pagesLeft: Math.max(0, pages - checkpointed) }
}

/**
 * Writes a consistent copy of the whole database to `path` (SQLite's VACUUM INTO, one read
 * transaction, so writers carry on), synced to disk. Refuses a path that exists.
 */
export async function backup(db: Kysely<Database>, path: string): Promise<{ bytes: number }> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  // Created empty, owner-only and only if absent (VACUUM INTO fills an empty file), so a backup
  // is never readable by other accounts on the machine, and never overwrites a file.
  try {
    closeSync(openSync(path, 'wx', 0o600))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new Error(`${path} already exists; name a new file (a backup never overwrites one)`, { cause: error })
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
}

/** Why a database that is not an embedded file has no backup of ours. */
export function noBackup(memory: boolean): Error {
  return new Error(
    memory
      ? 'an in-memory database has nothing to back up'
      : "the database is remote (Turso): use Turso's own backups (point-in-time restore, `turso db shell <db> .dump`); sms-bridge backup copies the embedded file",
  )
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
