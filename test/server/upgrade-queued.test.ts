import t from 'tap'
import { join } from 'node:path'
import { migrate, openStore } from '../../shared/db/database.js'
import { migrationProvider } from '../../shared/db/migrations/index.js'
import { claimJobs } from '../../server/queue/queue.js'
import { LANES, laneRank } from '../../server/queue/lanes.js'
import { BRIDGE_TASKS } from '../../server/tasks.js'
import type { Kysely } from 'kysely'
import { tempDir } from '../support/db.js'

/** The tasks 0.2.0 queued (its server/bridge/jobs.ts), each with the lane it has now. */
const RELEASE_0_2_0_TASKS = [
  'automated.note',
  'automated.send',
  'canvas.note',
  'canvas.send',
  'consent.keyword',
  'contact.mark',
  'contact.merge',
  'contact.save_phone',
  'contact.sms_attributes',
  'conversation.mark_read',
  'conversation.note',
  'conversation.tag',
  'inbound.catchup',
  'inbound.deliver',
  'maintenance.checkpoint',
  'maintenance.prune',
  'outbound.notify_failure',
  'outbound.reply',
  'privacy.redact',
]

t.test("upgrading with work queued: each job 0.2.0 queued takes its task's lane, so its teammate's reply goes first", async (t) => {
  const T0 = Date.parse('2026-12-07T12:00:00Z')
  const store = await openStore({ url: `file:${join(tempDir(t), 'bridge.db')}` })
  t.teardown(() => store.close())
  // The database as 0.2.0 left it: every migration before this release's first (2026-12-07T41).
  const all = Object.keys(await migrationProvider.getMigrations()).sort()
  const last020 = all.filter((name) => name < '2026-12-07T41').at(-1)!
  await migrate(store, { upTo: last020 })

  // An Intercom outage's backlog of inbound deliveries, queued first, then one of every other task,
  // among them a teammate's reply: the jobs table as 0.2.0 wrote it (it has no lane column).
  const job = (task: string, i: number) => ({
    task,
    payload: '{}',
    key: null,
    queue_key: `q:${task}:${i}`,
    max_attempts: 12,
    run_at: T0 - 60_000 + i,
    created_at: T0 - 60_000 + i,
    updated_at: T0 - 60_000 + i,
  })
  const backlog = Array.from({ length: 50 }, (_, i) => job('inbound.deliver', i))
  const others = RELEASE_0_2_0_TASKS.filter((task) => task !== 'inbound.deliver').map((task, i) => job(task, 100 + i))
  // Kysely typed for the jobs table as it is now would want a lane: this is the table as it was.
  await (store.db as unknown as Kysely<{ jobs: ReturnType<typeof job> }>)
    .insertInto('jobs')
    .values([...backlog, ...others])
    .execute()

  const upgrade = await migrate(store)
  t.ok(upgrade.applied.includes('2026-12-07T45-lanes'))

  const tasks = new Map(BRIDGE_TASKS.map((task) => [task.name, task]))
  const lanes = await store.db.selectFrom('jobs').select(['task', 'lane']).distinct().execute()
  for (const name of RELEASE_0_2_0_TASKS) {
    const definition = tasks.get(name)
    t.ok(definition, `${name} is still a task`)
    t.same(
      lanes.filter((row) => row.task === name).map((row) => LANES[row.lane]),
      [definition!.lane],
      `${name}: the ${definition!.lane} lane, as its definition says`,
    )
  }

  // After the upgrade, the first claim takes the replies queued before it, then the rest in lane order.
  const claimed = await claimJobs(store, { workerId: 'w', limit: 4, leaseMs: 60_000, now: T0 })
  t.same(
    claimed.map((j) => j.lane),
    [0, 0, 0, 0],
    'four reply-lane jobs first, though fifty inbound deliveries were queued before them',
  )
  t.ok(
    claimed.every((j) => tasks.get(j.task)?.lane === 'reply'),
    'each of them a teammate or sidebar job',
  )
  t.equal(laneRank('reply'), 0)
})
