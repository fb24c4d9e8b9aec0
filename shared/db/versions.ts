import { readdirSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { sql } from 'kysely'
import { PRODUCT } from '../version.js'
import type { Db, Store } from './database.js'
import { databaseFile } from './files.js'

/** Where the automatic backups before a migration go: `backups/` beside the database file. */
export const backupsFolder = (dbFile: string) => join(dirname(dbFile), 'backups')

/** Automatic backups kept whatever their age; older ones go after PRE_MIGRATE_KEEP_DAYS. */
export const PRE_MIGRATE_KEEP = 3
export const PRE_MIGRATE_KEEP_DAYS = 30
const PRE_MIGRATE = /^pre-migrate-.+\.db$/

/** What a database holds that this version does not know, and who wrote it. */
export interface NewerDatabase {
  /** The release that migrated it, when it recorded itself (releases from 0.2.0 on do). */
  version: string | undefined
  /** The newest migration this version does not know. */
  migration: string
  /** The newest automatic backup taken on the way to that release, if one is beside the database. */
  backup: string | undefined
  /** Embedded file: where such backups go; undefined for a remote database. */
  backupsDir: string | undefined
  /** The version that found it (this one). */
  ours: string
}

/** A database migrated by a newer release: refused before anything is changed, saying the way back. */
export class NewerDatabaseError extends Error {
  readonly code = 'DATABASE_FROM_NEWER_VERSION'

  constructor(readonly found: NewerDatabase) {
    const by = found.version ? `${PRODUCT} ${found.version}` : `a newer ${PRODUCT}`
    const restore = found.backupsDir
      ? `restore the backup taken before the upgrade (sms-bridge restore ${found.backup ?? join(found.backupsDir, `pre-migrate-${found.ours}-to-${found.version ?? '<version>'}-<time>.db`)})`
      : "restore the database as it was before the upgrade (Turso's point-in-time restore)"
    super(
      `This database was migrated by ${by} (migration ${found.migration}), newer than this version ${found.ours}. ` +
        `To roll back: ${restore}, or run ${found.version ? `version ${found.version}` : 'the version that migrated it'}.`,
    )
    this.name = 'NewerDatabaseError'
  }
}

async function hasTable(db: Db, name: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`select count(*) as n from sqlite_master where type = 'table' and name = ${name}`.execute(db)
  return Number(rows[0]?.n ?? 0) > 0
}

/** Names of the migrations applied to this database, known to this version or not, sorted. */
export async function appliedMigrations(db: Db): Promise<string[]> {
  if (!(await hasTable(db, 'kysely_migration'))) return []
  const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db)
  return rows.map((r) => r.name).sort()
}

/** The releases recorded as having migrated this database, newest first. */
async function recordedVersions(db: Db): Promise<Array<{ version: string; migrations: string[] }>> {
  if (!(await hasTable(db, 'bridge_versions'))) return []
  const rows = await db.selectFrom('bridge_versions').select(['version', 'migrations']).orderBy('migrated_at', 'desc').execute()
  return rows.map((r) => ({ version: r.version, migrations: JSON.parse(r.migrations) as string[] }))
}

/** The release that last migrated this database; databases from before releases recorded themselves were 0.1.0's. */
export async function migratedBy(db: Db): Promise<string | undefined> {
  if (!(await hasTable(db, 'bridge_versions'))) return (await appliedMigrations(db)).length > 0 ? '0.1.0' : undefined
  return (await recordedVersions(db))[0]?.version
}

/** What a database holds that `known` does not list (a newer release migrated it), or undefined. */
export async function newerDatabase(store: Store, known: string[], ours: string): Promise<NewerDatabase | undefined> {
  const unknown = (await appliedMigrations(store.db)).filter((name) => !known.includes(name))
  const migration = unknown.at(-1)
  if (!migration) return undefined
  const version = (await recordedVersions(store.db)).find((r) => r.migrations.includes(migration))?.version
  const dbFile = databaseFile(store.url)
  const backupsDir = dbFile && store.isLocalFile ? backupsFolder(dbFile) : undefined
  const backup = backupsDir ? newestBackup(backupsDir, version) : undefined
  return { version, migration, backup, backupsDir, ours }
}

/** Throws NewerDatabaseError for a database a newer release migrated: Kysely would say only "corrupted migrations". */
export async function refuseNewerDatabase(store: Store, known: string[], ours: string): Promise<void> {
  const found = await newerDatabase(store, known, ours)
  if (found) throw new NewerDatabaseError(found)
}

/** The newest automatic backup taken before migrating to `to` (any, when `to` is unknown). */
function newestBackup(dir: string, to: string | undefined): string | undefined {
  const wanted = (name: string) => PRE_MIGRATE.test(name) && (!to || name.includes(`-to-${to}-`))
  return preMigrateBackups(dir).find((b) => wanted(b.name))?.path
}

/** The automatic backups in `dir`, newest first. */
function preMigrateBackups(dir: string): Array<{ name: string; path: string; mtimeMs: number }> {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((name) => PRE_MIGRATE.test(name))
    .map((name) => ({ name, path: join(dir, name), mtimeMs: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
}

/** Records that this release migrated the database, with the migrations it knows. */
export async function recordVersion(db: Db, release: { version: string; known: string[] }, now: number): Promise<void> {
  const known = release.known
  await db
    .insertInto('bridge_versions')
    .values({ version: release.version, migrations: JSON.stringify(known), migrated_at: now })
    .onConflict((oc) => oc.column('version').doUpdateSet({ migrations: JSON.stringify(known), migrated_at: now }))
    .execute()
}

/** What happened to a database's safety before migrations were applied to it. */
export interface BeforeMigrating {
  /** The copy taken (embedded file). */
  backup?: string
  /** Older automatic copies removed after it. */
  pruned?: string[]
  /** A remote database, which the bridge cannot copy. */
  remote?: true
}

/**
 * Before migrations change a database that already holds data: an embedded file is copied to
 * backups/pre-migrate-<from>-to-<to>-<time>.db beside it (owner-only, as every backup), and
 * automatic backups beyond the newest PRE_MIGRATE_KEEP and older than PRE_MIGRATE_KEEP_DAYS are
 * removed. A remote database cannot be copied from here: the caller says so.
 */
export async function backupBeforeMigrating(store: Store, to: string, now: number): Promise<BeforeMigrating> {
  const dbFile = databaseFile(store.url)
  if (!store.isLocalFile || !dbFile) return store.isLocalFile ? {} : { remote: true }
  const from = (await migratedBy(store.db)) ?? 'unknown'
  const dir = backupsFolder(dbFile)
  const backup = join(dir, `pre-migrate-${from}-to-${to}-${new Date(now).toISOString().replace(/[:.]/g, '-')}.db`)
  try {
    await store.backup(backup)
  } catch (error) {
    // Another process upgrading the same file took it in the same millisecond: the same copy.
    if (!(error instanceof Error && /already exists/.test(error.message))) throw error
  }
  return { backup, pruned: prunePreMigrateBackups(dir, now) }
}

/** Removes automatic backups beyond the newest PRE_MIGRATE_KEEP that are older than PRE_MIGRATE_KEEP_DAYS; returns their paths. */
export function prunePreMigrateBackups(dir: string, now: number): string[] {
  const cutoff = now - PRE_MIGRATE_KEEP_DAYS * 86_400_000
  const old = preMigrateBackups(dir)
    .slice(PRE_MIGRATE_KEEP)
    .filter((b) => b.mtimeMs < cutoff)
  for (const b of old) rmSync(b.path, { force: true })
  return old.map((b) => b.path)
}
