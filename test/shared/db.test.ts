import t from 'tap'
import { sql } from 'kysely'
import { setTimeout as sleep } from 'node:timers/promises'
import { LATEST_MIGRATION, migrate, openStore, pendingMigrations } from '../../shared/db/database.js'
import { tempDir, tempStore } from '../support/db.js'
import { join } from 'node:path'

t.test('a new file database is created, put in WAL mode and migrated once', async (t) => {
  const path = join(tempDir(t), 'nested', 'dir', 'bridge.db')
  const store = await openStore({ url: `file:${path}` })
  t.teardown(() => store.close())
  t.same(await pendingMigrations(store), ['2026-11-25T00-initial', '2026-11-25T01-inbound', '2026-11-25T02-outbound', LATEST_MIGRATION])
  t.same(await migrate(store), ['2026-11-25T00-initial', '2026-11-25T01-inbound', '2026-11-25T02-outbound', LATEST_MIGRATION])
  t.same(await migrate(store), [], 'nothing applied twice')
  t.same(await pendingMigrations(store), [])
  const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db)
  t.equal(rows[0]?.journal_mode, 'wal')
  const { rows: sync } = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db)
  t.equal(sync[0]?.synchronous, 2, 'FULL: a commit is on disk before it is acknowledged')
  const tables = await store.db.introspection.getTables()
  t.same(
    tables.map((x) => x.name).filter((n) => !n.startsWith('kysely_')).sort(),
    ['automated_sends', 'consent', 'jobs', 'messages', 'phone_contacts', 'settings_cache', 'sms_conversations', 'webhook_receipts'],
  )
})

t.test('concurrent writers in one process are serialised, not deadlocked', async (t) => {
  const store = await tempStore(t)
  // Each transaction yields to the event loop in the middle, as real handlers do.
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      store.write(async (trx) => {
        await trx.insertInto('webhook_receipts').values({ source: 'test', key: `k${i}`, received_at: i }).execute()
        await sleep(1)
        await trx.insertInto('webhook_receipts').values({ source: 'test', key: `k${i}b`, received_at: i }).execute()
      }),
    ),
  )
  const { n } = await store.db
    .selectFrom('webhook_receipts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow()
  t.equal(Number(n), 100)
})

t.test('concurrent writes share commits; a failing one fails alone', async (t) => {
  const store = await tempStore(t)
  const before = store.commits
  const results = await Promise.allSettled(
    Array.from({ length: 100 }, (_, i) =>
      store.write(async (trx) => {
        await trx.insertInto('webhook_receipts').values({ source: 'batch', key: `k${i}`, received_at: i }).execute()
        if (i % 10 === 3) throw new Error(`write ${i} refused`)
        return i
      }),
    ),
  )
  t.equal(results.filter((r) => r.status === 'rejected').length, 10, 'the failing writes failed')
  t.same((results[3] as PromiseRejectedResult).reason.message, 'write 3 refused')
  t.equal((results[4] as PromiseFulfilledResult<number>).value, 4, 'each caller gets its own result')
  const keys = await store.db.selectFrom('webhook_receipts').select('key').where('source', '=', 'batch').execute()
  t.equal(keys.length, 90, 'their rows were rolled back, nobody else\'s')
  t.notOk(keys.some((k) => k.key === 'k3'))
  const commits = store.commits - before
  t.ok(commits < 100 && commits >= 1, `100 writes took ${commits} commits`)
})

t.test('a failed write rolls back and does not block the next one', async (t) => {
  const store = await tempStore(t)
  await t.rejects(
    store.write(async (trx) => {
      await trx.insertInto('webhook_receipts').values({ source: 's', key: 'a', received_at: 1 }).execute()
      await trx.insertInto('webhook_receipts').values({ source: 's', key: 'a', received_at: 2 }).execute()
    }),
    /UNIQUE/,
  )
  await store.write((trx) => trx.insertInto('webhook_receipts').values({ source: 's', key: 'b', received_at: 3 }).execute())
  const keys = await store.db.selectFrom('webhook_receipts').select('key').execute()
  t.same(keys, [{ key: 'b' }], 'the failed transaction left nothing behind')
})

t.test('a closed store refuses writes clearly', async (t) => {
  const store = await tempStore(t)
  await store.close()
  await t.rejects(store.write(async () => 1), /the database is closed/)
})
