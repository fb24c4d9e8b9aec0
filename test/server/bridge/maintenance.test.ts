import t from 'tap'
import { PRUNE, RECEIPT_RETENTION_MS, prune, schedulePrune } from '../../../server/bridge/maintenance.js'
import { buildTestApp, drain } from '../../helper.js'

const DAY = 24 * 3_600_000

t.test('receipts past any redelivery are pruned in batches; recent ones stay; it runs again a day later', async (t) => {
  const { app } = await buildTestApp(t, { startWorker: false })
  const now = Date.now()
  const OLD = 4_500
  await app.store.write(async (trx) => {
    for (let i = 0; i < OLD; i += 500) {
      const rows = Array.from({ length: Math.min(500, OLD - i) }, (_, j) => ({ source: 'intercom', key: `old-${i + j}`, received_at: now - RECEIPT_RETENTION_MS - DAY - j }))
      await trx.insertInto('webhook_receipts').values(rows).execute()
    }
    await trx.insertInto('webhook_receipts').values([
      { source: 'intercom', key: 'recent', received_at: now - DAY },
      { source: 'intercom', key: 'just-inside', received_at: now - RECEIPT_RETENTION_MS + 60_000 },
    ]).execute()
  })
  const commitsBefore = app.store.commits
  const result = await prune({ store: app.store, log: app.log }, now)
  t.same((await app.store.db.selectFrom('webhook_receipts').select('key').orderBy('key').execute()).map((r) => r.key), ['just-inside', 'recent'])
  t.ok(app.store.commits - commitsBefore >= 3, 'several small writes, not one long one')
  t.equal(result && result.runAgainAt, now + DAY)
})

t.test('scheduled once however often the service starts; the worker runs it and keeps it for tomorrow', async (t) => {
  const { app } = await buildTestApp(t)
  await schedulePrune(app.store)
  await schedulePrune(app.store)
  await drain(app)
  const jobs = await app.store.db.selectFrom('jobs').selectAll().where('task', '=', PRUNE).execute()
  t.equal(jobs.length, 1)
  t.equal(jobs[0]!.state, 'waiting')
  t.ok(jobs[0]!.run_at > Date.now() + DAY - 60_000, 'next run in a day')
  t.equal(jobs[0]!.last_error, null)
})
