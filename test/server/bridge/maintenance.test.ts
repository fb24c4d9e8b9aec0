import t from 'tap'
import {
  CHECKPOINT_INTERVAL_MS,
  FIRST_PRUNE_DELAY_MS,
  RECEIPT_RETENTION_MS,
  checkpoint,
  prune,
  scheduleMaintenance,
} from '../../../server/bridge/maintenance.js'
import { buildTestApp, drain } from '../../helper.js'

const DAY = 24 * 3_600_000

t.test('receipts past any redelivery are pruned in batches; recent ones stay; it runs again a day later', async (t) => {
  const { app } = await buildTestApp(t, { startWorker: false })
  const now = Date.now()
  const OLD = 4_500
  await app.store.transaction(async (trx) => {
    for (let i = 0; i < OLD; i += 500) {
      const rows = Array.from({ length: Math.min(500, OLD - i) }, (_, j) => ({
        source: 'intercom',
        key: `old-${i + j}`,
        received_at: now - RECEIPT_RETENTION_MS - DAY - j,
      }))
      await trx.insertInto('webhook_receipts').values(rows).execute()
    }
    await trx
      .insertInto('webhook_receipts')
      .values([
        { source: 'intercom', key: 'recent', received_at: now - DAY },
        { source: 'intercom', key: 'just-inside', received_at: now - RECEIPT_RETENTION_MS + 60_000 },
      ])
      .execute()
  })
  const commitsBefore = app.store.commits
  const result = await prune({ store: app.store, log: app.log, config: app.bridge.config }, now)
  t.same(
    (await app.store.db.selectFrom('webhook_receipts').select('key').orderBy('key').execute()).map((r) => r.key),
    ['just-inside', 'recent'],
  )
  t.ok(app.store.commits - commitsBefore >= 3, 'several small writes, not one long one')
  t.equal(result && result.runAgainAt, now + DAY)
})

t.test("data connectors' answers go once past any redelivery; recent answers and other settings stay", async (t) => {
  const { app } = await buildTestApp(t, { startWorker: false })
  const now = Date.now()
  const old = now - RECEIPT_RETENTION_MS - DAY
  const OLD = 1_200
  const keys = async () => (await app.store.db.selectFrom('settings_cache').select('key').orderBy('key').execute()).map((r) => r.key)
  const before = await keys()
  await app.store.transaction(async (trx) => {
    for (let i = 0; i < OLD; i += 400)
      await trx
        .insertInto('settings_cache')
        .values(
          Array.from({ length: 400 }, (_, j) => ({ key: `connector.answer.run-${i + j}`, value: '{"result":"sent"}', updated_at: old })),
        )
        .execute()
    await trx
      .insertInto('settings_cache')
      .values([
        { key: 'connector.answer.recent-run', value: '{"result":"refused"}', updated_at: now - DAY },
        // Other settings in the same table, as old: not this clean-up's.
        { key: 'connector.answers', value: '{}', updated_at: old },
        { key: 'connector.answer', value: '{}', updated_at: old },
        { key: 'intercom.workspace_id', value: '"abc123xy"', updated_at: old },
      ])
      .execute()
  })
  await prune({ store: app.store, log: app.log, config: app.bridge.config }, now)
  t.same(await keys(), [...before, 'connector.answer', 'connector.answer.recent-run', 'connector.answers', 'intercom.workspace_id'].sort())
})

t.test('scheduled once however often the service starts; the worker runs them and keeps them for their next turn', async (t) => {
  const { app } = await buildTestApp(t)
  await scheduleMaintenance(app.store, app.bridge.clock.now())
  await scheduleMaintenance(app.store, app.bridge.clock.now())
  await drain(app)
  const waiting = await app.store.db.selectFrom('jobs').selectAll().where('task', '=', 'maintenance.prune').executeTakeFirstOrThrow()
  t.ok(waiting.run_at > Date.now() + FIRST_PRUNE_DELAY_MS - 60_000, "the first clean-up waits for the start's own work")
  await app.store.transaction((trx) => trx.updateTable('jobs').set({ run_at: 0 }).where('task', '=', 'maintenance.prune').execute())
  app.worker.wake()
  await drain(app)
  const jobs = await app.store.db
    .selectFrom('jobs')
    .selectAll()
    .where('task', 'in', ['maintenance.prune', 'maintenance.checkpoint'])
    .orderBy('task')
    .execute()
  t.same(
    jobs.map((j) => [j.task, j.state, j.last_error]),
    [
      ['maintenance.checkpoint', 'waiting', null],
      ['maintenance.prune', 'waiting', null],
    ],
    'one of each, waiting, never failed',
  )
  t.ok(jobs[0]!.run_at > Date.now() + CHECKPOINT_INTERVAL_MS - 60_000, 'the next checkpoint in five minutes')
  t.ok(jobs[1]!.run_at > Date.now() + DAY - 60_000, 'the next clean-up in a day')
})

t.test('the checkpoint job copies the log into the database file and comes back in five minutes', async (t) => {
  const { app } = await buildTestApp(t, { startWorker: false })
  t.ok(app.store.isLocalFile, 'the test app runs on a file, as the service does')
  const now = 1_800_000_000_000
  t.same(await checkpoint({ store: app.store, log: app.log }, now), { runAgainAt: now + CHECKPOINT_INTERVAL_MS })
})
