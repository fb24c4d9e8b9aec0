import t from 'tap'
import { sql } from 'kysely'
import { z } from 'zod'
import { enqueue, listJobs, type EnqueueSpec } from '../../../server/queue/queue.js'
import { Worker, FAIR_EVERY, type TaskDefinition } from '../../../server/queue/worker.js'
import { currentLane, type Lane } from '../../../server/queue/lanes.js'
import { defineTask, enqueueTask } from '../../../server/queue/task.js'
import { silentLog, tempStore } from '../../support/db.js'
import { TestClock } from '../../support/clock.js'
import type { Store } from '../../../shared/db/database.js'
import { runIn } from '../../../shared/db/statement.js'

interface Ran {
  name: string
  lane: Lane | undefined
}

/** Queues every spec in one transaction, in order (ids follow that order). */
async function queueAll(store: Store, specs: EnqueueSpec[], now: number) {
  await store.transaction(async (trx) => {
    for (const spec of specs) await runIn(trx, enqueue(spec, now))
  })
}

/** A worker (not started: runUntilIdle claims) whose one task records, as it starts, the job's name and lane. */
function recordingWorker(store: Store, clock: TestClock, ran: Ran[]) {
  const tasks: Record<string, TaskDefinition> = {
    job: {
      payload: z.object({ name: z.string() }),
      run: async ({ name }) => {
        ran.push({ name, lane: currentLane() })
      },
    },
  }
  return new Worker({ store, tasks, log: silentLog, concurrency: 4, pollIntervalMs: 3_600_000, clock })
}

t.test('a reply queued behind 1,500 inbound deliveries runs first, in its lane', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const backlog: EnqueueSpec[] = Array.from({ length: 1_500 }, (_, i) => ({
    task: 'job',
    payload: { name: `inbound ${i}` },
    queueKey: `phone:${i % 300}`,
  }))
  await queueAll(store, [...backlog, { task: 'job', payload: { name: 'reply' }, queueKey: 'conversation:1', lane: 'reply' }], clock.now())
  const ran: Ran[] = []
  await recordingWorker(store, clock, ran).runUntilIdle({ maxRounds: 2_000 })
  t.equal(ran.length, 1_501, 'every job ran')
  t.same(ran[0], { name: 'reply', lane: 'reply' }, 'the reply was the first job started, and its code knew its lane')
  t.equal(ran[1]!.lane, 'inbound', 'a job queued without a lane is inbound')
})

t.test('within a lane, and across lanes for one key, jobs run in the order they were queued', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const specs: EnqueueSpec[] = []
  for (let n = 0; n < 6; n++) {
    for (const key of ['a', 'b', 'c']) specs.push({ task: 'job', payload: { name: `${key}:${n}` }, queueKey: key })
    specs.push({ task: 'job', payload: { name: `bulk:${n}` }, queueKey: 'bulk', lane: 'bulk' })
    specs.push({ task: 'job', payload: { name: `reply${n}` }, lane: 'reply' })
  }
  // One key in two lanes: the reply queued after its key's inbound job waits for it.
  specs.push({ task: 'job', payload: { name: 'a-reply' }, queueKey: 'a', lane: 'reply' })
  await queueAll(store, specs, clock.now())
  const ran: Ran[] = []
  await recordingWorker(store, clock, ran).runUntilIdle()
  const names = ran.map((r) => r.name)
  for (const key of ['a', 'b', 'c', 'bulk']) {
    const mine = names.filter((n) => n.startsWith(`${key}:`))
    t.same(
      mine,
      [0, 1, 2, 3, 4, 5].map((n) => `${key}:${n}`),
      `key ${key}: queued order`,
    )
  }
  t.ok(names.indexOf('a-reply') > names.indexOf('a:5'), "the reply on key a ran after key a's earlier jobs")
  t.same(names.slice(0, 4), ['reply0', 'reply1', 'reply2', 'reply3'], 'the first claim took the reply lane, oldest first')
})

t.test('a bulk job is not starved by a steady stream of inbound jobs (every FAIR_EVERY-th claim is fair)', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  await queueAll(store, [{ task: 'job', payload: { name: 'bulk' }, lane: 'bulk' }], clock.now())
  const ran: Ran[] = []
  const worker = recordingWorker(store, clock, ran)
  // Inbound keeps arriving faster than the worker runs it: four new jobs before every claim.
  let queued = 0
  while (!ran.some((r) => r.name === 'bulk') && queued < 40 * FAIR_EVERY) {
    clock.advance(1)
    await queueAll(
      store,
      Array.from({ length: 8 }, () => ({ task: 'job', payload: { name: `inbound ${queued++}` } })),
      clock.now(),
    )
    await worker.runUntilIdle({ maxRounds: 1 }).catch(() => undefined)
  }
  t.ok(
    ran.some((r) => r.name === 'bulk'),
    `the bulk job ran while inbound jobs still waited (after ${ran.length} jobs)`,
  )
  t.ok((await listJobs(store.db, 'waiting')).length > 0, 'inbound jobs were still waiting then')
})

t.test('jobs queued without a lane (before the upgrade, or by a rolled-back version) are inbound', async (t) => {
  const store = await tempStore(t)
  await sql`INSERT INTO jobs (task, payload, max_attempts, run_at, created_at, updated_at) VALUES ('job', '{"name":"old"}', 20, 0, 0, 0)`.execute(
    store.db,
  )
  const [job] = await listJobs(store.db)
  t.equal(job!.lane, 1, 'the column default is the inbound lane')
})

t.test("enqueueTask queues a job in its task's lane", async (t) => {
  const store = await tempStore(t)
  const replyLike = defineTask('test.lanes.reply', z.object({ n: z.number() }), { lane: 'reply', run: async () => {}, keys: {} })
  const plain = defineTask('test.lanes.plain', z.object({ n: z.number() }), { run: async () => {}, keys: {} })
  await store.run(enqueueTask(replyLike, { n: 1 }, {}, Date.now()), enqueueTask(plain, { n: 2 }, {}, Date.now()))
  t.same(
    (await listJobs(store.db)).map((j) => [j.task, j.lane]),
    [
      ['test.lanes.reply', 0],
      ['test.lanes.plain', 1],
    ],
  )
})
