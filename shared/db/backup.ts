import { chmodSync, copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs'
import { sql } from 'kysely'
import { openStore, pendingMigrations, type Store } from './database.js'
import { schemaDifferences } from './schema-check.js'
import { migrationProvider } from './migrations/index.js'
import { appliedMigrations, newerDatabase } from './versions.js'
import { PRODUCT, VERSION } from '../version.js'

export { databaseFile } from './files.js'

/** Where a restore waits for the next start, beside the database file. */
export const stagedRestorePath = (dbFile: string) => `${dbFile}.restore`

/**
 * Checks that `backup` is a whole bridge database this version can run (SQLite's integrity check, no
 * migration this version does not know, and nothing in its schema the migrations do not create),
 * then stages a copy of it beside the database file, owner-only. The service puts it in place the
 * next time it starts: a database cannot be swapped under a process that has it open, and on fly.io
 * the command runs inside the machine whose service is running.
 */
export async function stageRestore(dbFile: string, backup: string): Promise<{ migrationsToApply: number }> {
  if (!existsSync(backup)) throw new Error(`${backup} does not exist`)
  const staged = stagedRestorePath(dbFile)
  const partial = `${staged}.partial`
  rmSync(partial, { force: true })
  // Checked on a copy: opening a database may change its file (journal mode), and the backup stays as
  // it was. The copy takes the backup's mode: made owner-only at once, as the database is.
  copyFileSync(backup, partial)
  chmodSync(partial, 0o600)
  try {
    const migrationsToApply = await checkCopy(partial, backup)
    renameSync(partial, staged)
    rmSync(`${partial}-wal`, { force: true })
    rmSync(`${partial}-shm`, { force: true })
    return { migrationsToApply }
  } catch (error) {
    for (const leftover of [partial, `${partial}-wal`, `${partial}-shm`]) rmSync(leftover, { force: true })
    if (error instanceof Error && /file is not a database|malformed/i.test(error.message))
      throw new Error(`${backup} is not a database file`, { cause: error })
    throw error
  }
}

/** Checks the copy of `backup` at `copy` (see checkBackup); says how many migrations it lacks. */
async function checkCopy(copy: string, backup: string): Promise<number> {
  const store = await openStore({ url: `file:${copy}` })
  try {
    await checkBackup(store, backup)
    return (await pendingMigrations(store)).length
  } finally {
    await store.close()
  }
}

/** Throws, saying why, unless the opened copy of `backup` is a bridge database this version may run as it is. */
async function checkBackup(store: Store, backup: string): Promise<void> {
  const { rows } = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(store.db)
  if (rows[0]?.integrity_check !== 'ok') throw new Error(`${backup} is damaged: ${rows.map((r) => r.integrity_check).join('; ')}`)
  const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true })
  if (!tables.some((table) => table.name === 'kysely_migration'))
    throw new Error(`${backup} is not a bridge database (it has no migrations table)`)
  const newer = await newerDatabase(store, Object.keys(await migrationProvider.getMigrations()), VERSION)
  if (newer) {
    const by = newer.version ? `${PRODUCT} ${newer.version}` : `a newer ${PRODUCT}`
    throw new Error(
      `${backup} was written by ${by} (migration ${newer.migration}), newer than this version ${VERSION}; restore it with ${newer.version ? `version ${newer.version}` : 'that version'}`,
    )
  }
  const lastApplied = (await appliedMigrations(store.db)).at(-1)
  if (!lastApplied) throw new Error(`${backup} is not a bridge database (no migration was ever applied to it)`)
  const differences = await schemaDifferences(store, lastApplied)
  if (differences.length > 0) {
    throw new Error(
      `${backup} was not written by this bridge: ${differences.slice(0, 5).join('; ')}${differences.length > 5 ? ` (and ${differences.length - 5} more)` : ''}. Nothing was staged.`,
    )
  }
}

/**
 * At start, before the database is opened: when a restore is staged, the current database (with its
 * log) is kept as `<file>.before-restore-<when the restore was staged>` and the staged copy takes its
 * place. The log moves first and the name depends only on the staged file, so a start that dies
 * halfway leaves the next start to finish the same moves: a database never meets another's log.
 * Returns the name of what was kept, or undefined when nothing was staged.
 */
export function applyStagedRestore(dbFile: string): string | undefined {
  const staged = stagedRestorePath(dbFile)
  if (!existsSync(staged)) return undefined
  const kept = `${dbFile}.before-restore-${statSync(staged).mtime.toISOString().replace(/[:.]/g, '-')}`
  for (const suffix of ['-wal', '-shm', '']) {
    if (existsSync(dbFile + suffix)) renameSync(dbFile + suffix, kept + suffix)
  }
  renameSync(staged, dbFile)
  return kept
}
