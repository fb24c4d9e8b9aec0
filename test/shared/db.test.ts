import t from 'tap'
import { sql } from 'kysely'
import { setTimeout as sleep } from 'node:timers/promises'
import { copyFileSync, existsSync, statSync } from 'node:fs'
import { LATEST_MIGRATION, migrate, openStore, pendingMigrations, type Store } from '../../shared/db/database.js'
import { remoteStore, tempDir, tempStore, type Teardown } from '../support/db.js'
import { migrationProvider } from '../../shared/db/migrations/index.js'
import { join } from 'node:path'

t.test('a new file database is created, put in WAL mode and migrated once', async (t) => {
  const path = join(tempDir(t), 'nested', 'dir', 'bridge.db')
  const store = await openStore({ url: `file:${path}` })
  t.teardown(() => store.close())
  const all = Object.keys(await migrationProvider.getMigrations()).sort()
  t.same(all.slice(0, 5), [
    '2026-11-25T00-initial',
    '2026-11-25T01-inbound',
    '2026-11-25T02-outbound',
    '2026-11-25T03-automated',
    '2026-12-02T00-real-traffic',
  ])
  t.equal(all.at(-1), LATEST_MIGRATION)
  t.same(await pendingMigrations(store), all)
  t.same((await migrate(store)).applied, all)
  t.same(await migrate(store), { applied: [] }, 'nothing applied twice, nothing backed up')
  t.same(await pendingMigrations(store), [])
  const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db)
  t.equal(rows[0]?.journal_mode, 'wal')
  const { rows: sync } = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db)
  t.equal(sync[0]?.synchronous, 2, 'FULL: a commit is on disk before it is acknowledged')
  const tables = await store.db.introspection.getTables()
  t.same(
    tables
      .map((x) => x.name)
      .filter((n) => !n.startsWith('kysely_'))
      .sort(),
    [
      'automated_sends',
      'bridge_versions',
      'broadcast_recipients',
      'broadcasts',
      'consent',
      'consent_events',
      'customer_senders',
      'held_media',
      'jobs',
      'messages',
      'paced_texts',
      'phone_contacts',
      'phone_verifications',
      'prices',
      'quick_replies',
      'revocation_requests',
      'scheduled_texts',
      'send_counts',
      'sender_pacing',
      'settings_cache',
      'sms_conversation_links',
      'sms_conversations',
      'webhook_receipts',
    ],
  )
})

t.test('concurrent writers in one process are serialised, not deadlocked', async (t) => {
  const store = await tempStore(t)
  // Each transaction yields to the event loop in the middle, as real handlers do.
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      store.transaction(async (trx) => {
        await trx
          .insertInto('webhook_receipts')
          .values({ source: 'test', key: `k${i}`, received_at: i })
          .execute()
        await sleep(1)
        await trx
          .insertInto('webhook_receipts')
          .values({ source: 'test', key: `k${i}b`, received_at: i })
          .execute()
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
      store.transaction(async (trx) => {
        await trx
          .insertInto('webhook_receipts')
          .values({ source: 'batch', key: `k${i}`, received_at: i })
          .execute()
        if (i % 10 === 3) throw new Error(`write ${i} refused`)
        return i
      }),
    ),
  )
  t.equal(results.filter((r) => r.status === 'rejected').length, 10, 'the failing writes failed')
  t.same((results[3] as PromiseRejectedResult).reason.message, 'write 3 refused')
  t.equal((results[4] as PromiseFulfilledResult<number>).value, 4, 'each caller gets its own result')
  const keys = await store.db.selectFrom('webhook_receipts').select('key').where('source', '=', 'batch').execute()
  t.equal(keys.length, 90, "their rows were rolled back, nobody else's")
  t.notOk(keys.some((k) => k.key === 'k3'))
  const commits = store.commits - before
  t.ok(commits < 100 && commits >= 1, `100 writes took ${commits} commits`)
})

t.test('a failed write rolls back and does not block the next one', async (t) => {
  const store = await tempStore(t)
  await t.rejects(
    store.transaction(async (trx) => {
      await trx.insertInto('webhook_receipts').values({ source: 's', key: 'a', received_at: 1 }).execute()
      await trx.insertInto('webhook_receipts').values({ source: 's', key: 'a', received_at: 2 }).execute()
    }),
    /UNIQUE/,
  )
  await store.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 's', key: 'b', received_at: 3 }).execute())
  const keys = await store.db.selectFrom('webhook_receipts').select('key').execute()
  t.same(keys, [{ key: 'b' }], 'the failed transaction left nothing behind')
})

t.test('a closed store refuses writes clearly', async (t) => {
  const store = await tempStore(t)
  await store.close()
  await t.rejects(
    store.transaction(async () => 1),
    /the database is closed/,
  )
})

t.test('kept statements: each run binds its own values, after errors too, past the cache size', async (t) => {
  const store = await tempStore(t)
  await store.transaction(async (trx) => {
    for (let i = 0; i < 20; i++)
      await trx
        .insertInto('webhook_receipts')
        .values({ source: 'kept', key: `k${i}`, received_at: i })
        .execute()
  })
  for (let i = 0; i < 20; i++) {
    const rows = await store.db.selectFrom('webhook_receipts').select('key').where('received_at', '>=', i).orderBy('received_at').execute()
    t.equal(rows.length, 20 - i)
    if (rows[0]?.key !== `k${i}`) t.fail(`run ${i} saw ${rows[0]?.key}`)
  }
  // The same INSERT fails on a duplicate, then runs again with new values.
  await t.rejects(
    store.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'kept', key: 'k1', received_at: 99 }).execute()),
    { code: /^SQLITE_CONSTRAINT/ },
  )
  await store.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'kept', key: 'k20', received_at: 20 }).execute())
  const { n } = await store.db
    .selectFrom('webhook_receipts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow()
  t.equal(n, 21)
  // More distinct statements than the cache keeps: the evicted ones are prepared again.
  for (let i = 0; i < 600; i += 7) {
    const { rows } = await sql<{ v: number }>`select ${sql.raw(String(i))} + ${1} as v`.execute(store.db)
    if (rows[0]?.v !== i + 1) t.fail(`statement ${i} gave ${rows[0]?.v}`)
  }
  const { rows } = await sql<{ v: number }>`select ${sql.raw('0')} + ${2} as v`.execute(store.db)
  t.equal(rows[0]?.v, 2, 'the first statement again, evicted and prepared anew')
})

t.test('a write outside any transaction waits for the open one instead of failing busy', async (t) => {
  const store = await tempStore(t)
  const order: string[] = []
  const transaction = store.transaction(async (trx) => {
    await trx.insertInto('webhook_receipts').values({ source: 'tx', key: 'a', received_at: 1 }).execute()
    await sleep(50)
    order.push('transaction')
  })
  await sleep(5)
  const bare = store.db
    .insertInto('webhook_receipts')
    .values({ source: 'bare', key: 'b', received_at: 2 })
    .execute()
    .then(() => order.push('bare write'))
  await Promise.all([transaction, bare])
  t.same(order, ['transaction', 'bare write'])
  t.equal((await store.db.selectFrom('webhook_receipts').selectAll().execute()).length, 2)
})

t.test('values are stored as @libsql/client stores them; undefined is refused', async (t) => {
  const store = await tempStore(t)
  const { rows } = await sql<{
    yes: number
    no: number
    when: number
    blob: ArrayBuffer
  }>`select ${true} as yes, ${false} as no, ${new Date(1234)} as "when", ${new Uint8Array([1, 2])} as blob`.execute(store.db)
  t.equal(rows[0]?.yes, 1)
  t.equal(rows[0]?.no, 0)
  t.equal(rows[0]?.when, 1234)
  t.same([...new Uint8Array(rows[0]!.blob)], [1, 2], 'blobs come back as ArrayBuffers, as from @libsql/client')
  await t.rejects(sql`select ${undefined} as x`.execute(store.db), /undefined cannot be passed/)
  await t.rejects(sql`select ${Number.NaN} as x`.execute(store.db), /finite numbers/)
})

t.test('an in-memory database works on its one connection', async (t) => {
  const store = await openStore({ url: ':memory:' })
  t.teardown(() => store.close())
  await migrate(store)
  await store.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'm', key: 'a', received_at: 1 }).execute())
  t.same(await store.db.selectFrom('webhook_receipts').select('key').execute(), [{ key: 'a' }])
})

t.test("after waiting out another process's lock, the next write goes through", async (t) => {
  const a = await tempStore(t)
  const b = await openStore({ url: `file:${a.path}`, busyTimeoutMs: 50 })
  t.teardown(() => b.close())
  let holding!: () => void
  const held = new Promise<void>((resolve) => (holding = resolve))
  const long = a.transaction(async (trx) => {
    await trx.insertInto('webhook_receipts').values({ source: 'a', key: 'held', received_at: 1 }).execute()
    holding()
    await sleep(300)
  })
  await held
  await t.rejects(
    b.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'b', key: 'refused', received_at: 2 }).execute()),
    { code: /^SQLITE_BUSY/ },
  )
  await long
  // The BEGIN that failed busy must not leave the connection unable to commit.
  await b.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'b', key: 'later', received_at: 3 }).execute())
  await b.transaction((trx) => trx.insertInto('webhook_receipts').values({ source: 'b', key: 'again', received_at: 4 }).execute())
  t.same(
    (await b.db.selectFrom('webhook_receipts').select('key').orderBy('received_at').execute()).map((r) => r.key),
    ['held', 'later', 'again'],
  )
})

/** Opens a copy of only the database file (no -wal, no -shm), as a backup that copies one file has it. */
async function fileAlone(t: Teardown, path: string): Promise<Store> {
  const copy = join(tempDir(t), 'copy.db')
  copyFileSync(path, copy)
  const store = await openStore({ url: `file:${copy}` })
  t.teardown(() => store.close())
  return store
}

async function addReceipts(store: Store, prefix: string, n: number) {
  await store.transaction((trx) =>
    trx
      .insertInto('webhook_receipts')
      .values(Array.from({ length: n }, (_, i) => ({ source: 'twilio', key: `${prefix}-${i}`, received_at: i })))
      .execute(),
  )
}

t.test('after close the database file alone holds everything: the log is checkpointed and emptied', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'bridge.db')
  const store = await openStore({ url: `file:${path}` })
  await migrate(store)
  await addReceipts(store, 'before-close', 300)
  t.ok(statSync(`${path}-wal`).size > 0, 'while open, the writes sit in the log')
  await store.close()
  t.equal(statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0, 0, 'the log is empty after close')
  const alone = await fileAlone(t, path)
  t.same(await pendingMigrations(alone), [], 'the copy has every table and migration')
  t.equal((await alone.db.selectFrom('webhook_receipts').select('key').execute()).length, 300, 'and every row')
})

t.test('a checkpoint while open puts what was written so far in the file; the store carries on', async (t) => {
  const store = await tempStore(t)
  await addReceipts(store, 'first', 50)
  t.same(await store.checkpoint(), { pagesLeft: 0 })
  await addReceipts(store, 'second', 50)
  const alone = await fileAlone(t, store.path)
  t.equal((await alone.db.selectFrom('webhook_receipts').select('key').execute()).length, 50, 'the checkpointed rows, not the later ones')
  t.equal((await store.db.selectFrom('webhook_receipts').select('key').execute()).length, 100)
})

t.test('backup writes a consistent copy while writes go on, and never overwrites a file', async (t) => {
  const store = await tempStore(t)
  await addReceipts(store, 'old', 1_000)
  const target = join(tempDir(t), 'backups', 'bridge-backup.db')
  // Writes keep arriving while the copy is taken: the copy has a prefix of them, whole.
  const writing = Promise.all(Array.from({ length: 20 }, (_, i) => addReceipts(store, `during-${i}`, 10)))
  const { bytes } = await store.backup(target)
  await writing
  t.ok(bytes > 0 && bytes === statSync(target).size)
  t.notOk(existsSync(`${target}-wal`), 'a single file, nothing beside it')
  const copy = await openStore({ url: `file:${target}` })
  t.teardown(() => copy.close())
  t.same(await pendingMigrations(copy), [])
  const keys = (await copy.db.selectFrom('webhook_receipts').select('key').execute()).map((r) => r.key)
  t.equal(keys.filter((k) => k.startsWith('old-')).length, 1_000)
  const during = keys.filter((k) => k.startsWith('during-'))
  t.equal(during.length % 10, 0, 'whole writes only')
  await t.rejects(store.backup(target), /already exists; name a new file/)
  const memory = await openStore({ url: ':memory:' })
  t.teardown(() => memory.close())
  await t.rejects(memory.backup(join(tempDir(t), 'm.db')), /nothing to back up/)
})

t.test(
  'statements run with store.run: a remote group commit of them is one request; a failing one fails alone; the embedded file runs the same statements',
  async (t) => {
    const { store: remote, server } = await remoteStore(t)
    const local = await tempStore(t)
    for (const [name, store] of [
      ['remote', remote],
      ['embedded', local],
    ] as const) {
      const insert = (key: string) =>
        store.db
          .insertInto('webhook_receipts')
          .values({ source: 'plan', key, received_at: 1 })
          .onConflict((oc) => oc.doNothing())
          .compile()
      // A second statement that reads the first one's effect in SQL, as a text and its job do.
      const count = (key: string) =>
        sql`INSERT INTO settings_cache (key, value, updated_at) SELECT ${`seen:${key}`}, 'x', 1 WHERE changes() > 0`.compile(store.db)
      const before = server.requests
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => store.run(insert(`k${i % 25}`), count(`k${i}`))))
      t.same(
        results.map((r) => Number(r[0].numAffectedRows)),
        Array.from({ length: 30 }, (_, i) => (i < 25 ? 1 : 0)),
        `${name}: each write gets its own results (a repeated key changes nothing)`,
      )
      const seen = await store.db.selectFrom('settings_cache').select('key').where('key', 'like', 'seen:%').execute()
      t.equal(seen.length, 25, `${name}: the second statement saw whether the first changed a row`)
      if (name === 'remote') t.ok(server.requests - before <= 3, `30 runs of statements took ${server.requests - before} requests`)
      // A write that fails (NOT NULL) fails alone; the others commit.
      const bad = sql`INSERT INTO webhook_receipts (source, key, received_at) VALUES ('plan', NULL, 1)`.compile(store.db)
      const mixed = await Promise.allSettled([store.run(insert('ok-1')), store.run(bad), store.run(insert('ok-2'))])
      t.same(
        mixed.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
        `${name}: only the failing write failed`,
      )
      const kept = await store.db.selectFrom('webhook_receipts').select('key').where('key', 'in', ['ok-1', 'ok-2']).execute()
      t.equal(kept.length, 2, `${name}: the others are stored`)
    }
  },
)
