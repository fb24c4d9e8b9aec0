import t, { type Test } from 'tap'
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'kysely'
import { migrate, openStore, type Store } from '../../shared/db/database.js'
import { stageRestore } from '../../shared/db/backup.js'
import { migratedBy, NewerDatabaseError, prunePreMigrateBackups } from '../../shared/db/versions.js'
import { VERSION } from '../../shared/version.js'
import { migrateSentences } from '../../server/ops/migrate.js'
import { tempDir } from '../support/db.js'
import { newerRelease } from '../support/releases.js'

const NOW = Date.UTC(2026, 11, 7, 12, 0, 0)
const STAMP = '2026-12-07T12-00-00-000Z'
const DAY = 86_400_000
/** The last migration 0.1.0 shipped: a database migrated this far is what an upgrade to 0.2.0 meets. */
const LAST_OF_0_1_0 = '2026-12-07T00-trust'

async function fileStore(t: Test, dir: string): Promise<Store> {
  const store = await openStore({ url: `file:${join(dir, 'data', 'bridge.db')}` })
  t.teardown(() => store.close())
  return store
}

async function receipts(store: Store): Promise<string[]> {
  return (await store.db.selectFrom('webhook_receipts').select('key').execute()).map((r) => r.key)
}

async function appliedIn(path: string): Promise<string[]> {
  const copy = await openStore({ url: `file:${path}` })
  try {
    return (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(copy.db)).rows.map((r) => r.name)
  } finally {
    await copy.close()
  }
}

t.test('migrations on a database with data are preceded by an owner-only copy; a new database gets none', async (t) => {
  const dir = tempDir(t)
  const store = await fileStore(t, dir)
  const fresh = await migrate(store, { upTo: LAST_OF_0_1_0, now: NOW - DAY })
  t.notOk(fresh.backup, 'nothing to keep in a database being created')
  t.notOk(existsSync(join(dir, 'data', 'backups')))
  await store.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'twilio', key: 'kept', received_at: 1 }).execute())

  const upgrade = await migrate(store, { now: NOW })
  t.ok(upgrade.applied.includes('2026-12-07T11-versions'))
  const backup = join(dir, 'data', 'backups', `pre-migrate-0.1.0-to-${VERSION}-${STAMP}.db`)
  t.equal(upgrade.backup, backup, 'named by the release it came from, the one it goes to and when')
  t.equal(statSync(backup).mode & 0o777, 0o600, 'owner-only, as every backup')
  t.equal((await appliedIn(backup)).at(-1), LAST_OF_0_1_0, 'the database as it was before the upgrade')
  const copy = await openStore({ url: `file:${backup}` })
  t.teardown(() => copy.close())
  t.same(await receipts(copy), ['kept'], 'with its data')
  t.equal(await migratedBy(store.db), VERSION, 'the release that migrated it is recorded')
  t.same(migrateSentences(upgrade, NOW).slice(1), [
    `Backed up the database first, to ${backup}. To roll back: stop the service, run sms-bridge restore ${backup}, then start the version it came from.`,
  ])
  t.same(await migrate(store, { now: NOW + DAY }), { applied: [] }, 'no copy when nothing is to be applied')
})

t.test('automatic copies: the newest 3 are kept whatever their age, older ones after 30 days; nothing else is touched', async (t) => {
  const dir = tempDir(t)
  const ages = [1, 2, 3, 10, 40, 60]
  for (const days of ages) {
    const file = join(dir, `pre-migrate-0.1.0-to-0.2.0-${days}d.db`)
    writeFileSync(file, '')
    utimesSync(file, (NOW - days * DAY) / 1000, (NOW - days * DAY) / 1000)
  }
  const own = join(dir, 'monday.db')
  writeFileSync(own, '')
  utimesSync(own, (NOW - 100 * DAY) / 1000, (NOW - 100 * DAY) / 1000)
  t.same(prunePreMigrateBackups(dir, NOW).sort(), [
    join(dir, 'pre-migrate-0.1.0-to-0.2.0-40d.db'),
    join(dir, 'pre-migrate-0.1.0-to-0.2.0-60d.db'),
  ])
  t.same(readdirSync(dir).sort(), ['monday.db', ...[1, 2, 3, 10].map((d) => `pre-migrate-0.1.0-to-0.2.0-${d}d.db`)].sort())
})

t.test('a database a newer release migrated is refused, naming that release, its migration and the copy to restore', async (t) => {
  const dir = tempDir(t)
  const store = await fileStore(t, dir)
  await migrate(store, { now: NOW - DAY })
  await store.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'twilio', key: 'before', received_at: 1 }).execute())
  const upgrade = await migrate(store, { release: await newerRelease('9.0.0'), now: NOW })
  t.same(upgrade.applied, ['2099-01-01T00-future'])
  const backup = join(dir, 'data', 'backups', `pre-migrate-${VERSION}-to-9.0.0-${STAMP}.db`)
  t.equal(upgrade.backup, backup)

  // Before: Kysely's "corrupted migrations: previously executed migration 2099-01-01T00-future is missing", after "migration  failed".
  const refused = await migrate(store, { now: NOW + DAY }).catch((error: unknown) => error)
  t.type(refused, NewerDatabaseError)
  t.equal(
    (refused as Error).message,
    `This database was migrated by intercom-sms-bridge 9.0.0 (migration 2099-01-01T00-future), newer than this version ${VERSION}. ` +
      `To roll back: restore the backup taken before the upgrade (sms-bridge restore ${backup}), or run version 9.0.0.`,
  )
  t.equal(await migratedBy(store.db), '9.0.0', 'nothing was changed')

  // A backup of the newer database cannot be staged by this release either: it says which to use.
  const newerCopy = join(dir, 'newer.db')
  await store.backup(newerCopy)
  await t.rejects(stageRestore(join(dir, 'data', 'bridge.db'), newerCopy), {
    message: `${newerCopy} was written by intercom-sms-bridge 9.0.0 (migration 2099-01-01T00-future), newer than this version ${VERSION}; restore it with version 9.0.0`,
  })
})

t.test('a newer migration with no record of its release: still named, the way back still said', async (t) => {
  const dir = tempDir(t)
  const store = await fileStore(t, dir)
  await migrate(store)
  await store.transaction((trx) =>
    trx
      .insertInto('kysely_migration' as never)
      .values({ name: '2099-01-01T00-future', timestamp: new Date(NOW).toISOString() } as never)
      .execute(),
  )
  await t.rejects(migrate(store), {
    message:
      `This database was migrated by a newer intercom-sms-bridge (migration 2099-01-01T00-future), newer than this version ${VERSION}. ` +
      `To roll back: restore the backup taken before the upgrade (sms-bridge restore ${join(dir, 'data', 'backups')}/pre-migrate-${VERSION}-to-<version>-<time>.db), or run the version that migrated it.`,
  })
})

t.test("a remote database: no copy can be taken, and the outcome says so; a newer one points to Turso's restore", async (t) => {
  const { startLibsqlServerStandIn } = await import('../../sandbox/libsql-server.js')
  const server = await startLibsqlServerStandIn({ path: join(tempDir(t), 'server.db') })
  t.teardown(() => server.close())
  const store = await openStore({ url: server.url, authToken: server.authToken })
  t.teardown(() => store.close())
  await migrate(store, { upTo: LAST_OF_0_1_0 })
  const upgrade = await migrate(store, { now: NOW })
  t.equal(upgrade.remote, true)
  t.notOk(upgrade.backup)
  t.match(migrateSentences(upgrade, NOW).at(-1), `use Turso's point-in-time restore to a time before ${new Date(NOW).toISOString()}`)
  await migrate(store, { release: await newerRelease('0.3.0'), now: NOW })
  await t.rejects(migrate(store), {
    message: new RegExp(
      `^This database was migrated by intercom-sms-bridge 0\\.3\\.0 \\(migration 2099-01-01T00-future\\), newer than this version ${VERSION.replace(/\./g, '\\.')}\\. To roll back: restore the database as it was before the upgrade \\(Turso's point-in-time restore\\), or run version 0\\.3\\.0\\.$`,
    ),
  })
})
