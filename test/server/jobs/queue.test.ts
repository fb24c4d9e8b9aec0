import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { PermanentError, RetryLaterError } from '../../../shared/errors.js'
import {
  claimJobs,
  discardDeadJob,
  enqueue,
  listJobs,
  queueStats,
  retryDeadJob,
  type EnqueueSpec,
} from '../../../server/jobs/queue.js'
import { Worker, backoffDelay, type TaskHandler } from '../../../server/jobs/worker.js'
import { silentLog, tempStore } from '../../support/db.js'
import { until } from '../../support/wait.js'
import type { Store } from '../../../shared/db/database.js'

const HOUR = 3_600_000

async function add(store: Store, spec: EnqueueSpec) {
  return store.write((trx) => enqueue(trx, spec))
}

function startWorker(
  t: Test,
  store: Store,
  tasks: Record<string, TaskHandler>,
  opts: Partial<ConstructorParameters<typeof Worker>[0]> = {},
) {
  const worker = new Worker({
    store,
    tasks,
    log: silentLog,
    concurrency: 4,
    // An hour: every test below would hang if the worker depended on polling to see its own work.
    pollIntervalMs: HOUR,
    backoff: { baseMs: 10, maxMs: 40 },
    ...opts,
  })
  worker.start()
  t.teardown(() => worker.stop(1_000))
  return worker
}


t.test('enqueue commits or rolls back with the caller transaction', async (t) => {
  const store = await tempStore(t)
  await t.rejects(
    store.write(async (trx) => {
      await enqueue(trx, { task: 'x', payload: { n: 1 } })
      throw new Error('the webhook could not be stored')
    }),
  )
  t.equal((await listJobs(store.db)).length, 0, 'no job without the record it belongs to')
  await add(store, { task: 'x', payload: { n: 2 } })
  const jobs = await listJobs(store.db)
  t.equal(jobs.length, 1)
  t.same(JSON.parse(jobs[0]!.payload), { n: 2 })
  t.equal(jobs[0]!.state, 'waiting')
})

t.test('a dedupe key makes a second enqueue a no-op while the job exists', async (t) => {
  const store = await tempStore(t)
  const first = await add(store, { task: 'x', payload: 1, key: 'twilio:SM1' })
  const again = await add(store, { task: 'x', payload: 2, key: 'twilio:SM1' })
  const other = await add(store, { task: 'x', payload: 3, key: 'twilio:SM2' })
  t.equal(first.deduped, false)
  t.same(again, { id: first.id, deduped: true }, 'points at the existing job')
  t.equal(other.deduped, false)
  const jobs = await listJobs(store.db)
  t.same(
    jobs.map((j) => JSON.parse(j.payload)),
    [1, 3],
    'the duplicate did not replace or add anything',
  )
})

t.test('an in-process enqueue runs at once, without waiting for a poll', async (t) => {
  const store = await tempStore(t)
  const seen: number[] = []
  const worker = startWorker(t, store, { note: async (p) => void seen.push(p) })
  await add(store, { task: 'note', payload: 7 })
  worker.wake()
  await until(() => seen.length === 1, 'the job to run')
  t.same(seen, [7])
  await until(async () => (await listJobs(store.db)).length === 0, 'the finished job to be removed')
})

t.test('jobs sharing an ordering key run one at a time, in queue order; other keys run in parallel', async (t) => {
  const store = await tempStore(t)
  const order: Record<string, number[]> = {}
  const active: Record<string, number> = {}
  let maxPerKey = 0
  let maxOverall = 0
  let overall = 0
  const worker = startWorker(
    t,
    store,
    {
      step: async ({ key, n }: { key: string; n: number }) => {
        active[key] = (active[key] ?? 0) + 1
        overall++
        maxPerKey = Math.max(maxPerKey, active[key]!)
        maxOverall = Math.max(maxOverall, overall)
        // Later jobs sleep less, so any reordering would show.
        await sleep(Math.max(1, 12 - n))
        ;(order[key] ??= []).push(n)
        active[key]!--
        overall--
      },
    },
    { concurrency: 3 },
  )
  const keys = ['+14155550101', '+14155550102', '+14155550103', '+14155550104', '+14155550105']
  for (let n = 0; n < 10; n++) {
    for (const key of keys) await add(store, { task: 'step', payload: { key, n }, queueKey: key })
  }
  worker.wake()
  await until(() => keys.every((k) => order[k]?.length === 10), 'every job to run', 20_000)
  for (const key of keys) t.same(order[key], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `jobs for ${key} ran in order`)
  t.equal(maxPerKey, 1, 'never two jobs of one key at once')
  t.ok(maxOverall > 1, 'different keys ran side by side')
  t.ok(maxOverall <= 3, 'never more than the concurrency limit')
})

t.test('a failing job keeps its place: later jobs with its key wait for it', async (t) => {
  const store = await tempStore(t)
  const ran: string[] = []
  let failures = 2
  const worker = startWorker(t, store, {
    post: async ({ text }: { text: string }) => {
      if (text === 'first' && failures-- > 0) throw new Error('Intercom answered 503')
      ran.push(text)
    },
  })
  await add(store, { task: 'post', payload: { text: 'first' }, queueKey: 'k' })
  await add(store, { task: 'post', payload: { text: 'second' }, queueKey: 'k' })
  worker.wake()
  await until(() => ran.length === 2, 'both jobs to run')
  t.same(ran, ['first', 'second'])
})

t.test('failures retry with growing, jittered backoff, then the job is dead with its last error', async (t) => {
  const store = await tempStore(t)
  const attempts: number[] = []
  const settled: string[] = []
  const worker = startWorker(
    t,
    store,
    {
      flaky: async (_p, { job }) => {
        attempts.push(Date.now())
        throw new Error(`upstream 500 on attempt ${job.attempts}`)
      },
    },
    { backoff: { baseMs: 20, maxMs: 10_000 }, onSettled: (_j, outcome) => settled.push(outcome) },
  )
  await add(store, { task: 'flaky', payload: null, maxAttempts: 5 })
  worker.wake()
  await until(() => settled.at(-1) === 'dead', 'the job to die')
  t.equal(attempts.length, 5, 'tried exactly max_attempts times')
  t.same(settled, ['retry', 'retry', 'retry', 'retry', 'dead'])
  const [dead] = await listJobs(store.db, 'dead')
  t.equal(dead?.attempts, 5)
  t.match(dead?.last_error, /upstream 500 on attempt 5/, 'keeps the last error')
  t.equal((await queueStats(store.db)).dead, 1)

  // The delay ceiling doubles per attempt; jitter picks a point below it, never less than base/2.
  for (const attempt of [1, 2, 3, 4, 5]) {
    const ceiling = 20 * 2 ** (attempt - 1)
    t.equal(backoffDelay(attempt, 20, 10_000, () => 1), ceiling, `attempt ${attempt}: ceiling ${ceiling}`)
    t.equal(backoffDelay(attempt, 20, 10_000, () => 0), 10, 'floor of half the base')
  }
  t.equal(backoffDelay(30, 20, 10_000, () => 1), 10_000, 'capped')
})

t.test('a job can ask for a specific delay; a permanent error goes straight to dead', async (t) => {
  const store = await tempStore(t)
  const runs: number[] = []
  let first = true
  const worker = startWorker(t, store, {
    limited: async () => {
      runs.push(Date.now())
      if (first) {
        first = false
        throw new RetryLaterError(300, 'rate limited until the window resets')
      }
    },
    doomed: async () => {
      throw new PermanentError('the number is not a mobile phone')
    },
  })
  await add(store, { task: 'limited', payload: null })
  await add(store, { task: 'doomed', payload: null })
  worker.wake()
  await until(() => runs.length === 2, 'the limited job to run again')
  t.ok(runs[1]! - runs[0]! >= 290, `waited the asked delay (${runs[1]! - runs[0]!} ms), no poll needed`)
  const dead = await listJobs(store.db, 'dead')
  t.equal(dead.length, 1)
  t.equal(dead[0]?.task, 'doomed')
  t.equal(dead[0]?.attempts, 1, 'not retried')
  t.match(dead[0]?.last_error, /not a mobile phone/)
})

t.test('dead jobs can be retried or discarded', async (t) => {
  const store = await tempStore(t)
  let fail = true
  const done: string[] = []
  const worker = startWorker(t, store, {
    x: async ({ id }: { id: string }) => {
      if (fail) throw new PermanentError('bad')
      done.push(id)
    },
  })
  await add(store, { task: 'x', payload: { id: 'a' } })
  await add(store, { task: 'x', payload: { id: 'b' } })
  worker.wake()
  await until(async () => (await listJobs(store.db, 'dead')).length === 2, 'both jobs to die')
  const [a, b] = await listJobs(store.db, 'dead')
  fail = false
  t.equal(await retryDeadJob(store, a!.id), true)
  t.equal(await discardDeadJob(store, b!.id), true)
  t.equal(await retryDeadJob(store, b!.id), false, 'a discarded job is gone')
  worker.wake()
  await until(() => done.length === 1, 'the retried job to run')
  t.same(done, ['a'])
  await until(async () => (await listJobs(store.db)).length === 0, 'the queue to empty')
})

t.test('a delayed job runs when due, without polling', async (t) => {
  const store = await tempStore(t)
  let ranAt = 0
  const worker = startWorker(t, store, { later: async () => void (ranAt = Date.now()) })
  const runAt = Date.now() + 200
  await add(store, { task: 'later', payload: null, runAt })
  worker.wake()
  await until(() => ranAt > 0, 'the delayed job to run')
  t.ok(ranAt >= runAt, 'not before its time')
})

t.test('a job whose worker died is claimed again once its lease runs out', async (t) => {
  const store = await tempStore(t)
  await add(store, { task: 'x', payload: 'p' })
  const [claimed] = await claimJobs(store, 'dead-worker', 10, 100)
  t.equal(claimed?.attempts, 1)
  t.same(await claimJobs(store, 'other', 10, 100), [], 'not claimable while the lease holds')
  await sleep(120)
  const [again] = await claimJobs(store, 'other', 10, 100)
  t.equal(again?.id, claimed?.id, 'claimed again after the lease')
  t.equal(again?.locked_by, 'other')
  t.equal(again?.attempts, 2, 'the lost run counts as an attempt')
})

t.test('a job that keeps killing its process is buried after its last attempt', async (t) => {
  const store = await tempStore(t)
  await add(store, { task: 'x', payload: 'p', maxAttempts: 2 })
  await claimJobs(store, 'w1', 1, 10)
  await sleep(15)
  await claimJobs(store, 'w2', 1, 10)
  await sleep(15)
  t.same(await claimJobs(store, 'w3', 1, 10), [])
  const [dead] = await listJobs(store.db, 'dead')
  t.match(dead?.last_error, /lease expired/)
})

t.test('a running job keeps its lease while it runs, however long', async (t) => {
  const store = await tempStore(t)
  let release!: () => void
  const started = new Promise<void>((r) => (release = r))
  let finish!: () => void
  const gate = new Promise<void>((r) => (finish = r))
  const worker = startWorker(t, store, { long: async () => (release(), gate) }, { leaseMs: 90 })
  await add(store, { task: 'long', payload: null })
  worker.wake()
  await started
  await sleep(300)
  t.same(await claimJobs(store, 'thief', 10, 1_000), [], 'the heartbeat kept the lease')
  finish()
  await until(async () => (await listJobs(store.db)).length === 0, 'the job to finish')
})

t.test('stop waits for running jobs, then claims nothing more', async (t) => {
  const store = await tempStore(t)
  let finished = false
  const worker = new Worker({ store, log: silentLog, pollIntervalMs: HOUR, tasks: {
    slow: async () => {
      await sleep(150)
      finished = true
    },
  } })
  worker.start()
  await add(store, { task: 'slow', payload: null })
  worker.wake()
  await until(() => worker.activeJobs === 1, 'the job to start')
  await worker.stop(5_000)
  t.equal(finished, true, 'the running job completed before stop returned')
  await add(store, { task: 'slow', payload: null })
  worker.wake()
  await sleep(50)
  t.equal((await listJobs(store.db, 'waiting')).length, 1, 'a stopped worker takes no new work')
})

t.test('a recurring job is kept and runs again when it asks to', async (t) => {
  const store = await tempStore(t)
  const runs: number[] = []
  let fail = true
  const worker = startWorker(t, store, {
    tick: async () => {
      if (fail) {
        fail = false
        throw new Error('first run fails')
      }
      runs.push(Date.now())
      if (runs.length < 3) return { runAgainAt: Date.now() + 50 }
    },
  })
  await add(store, { task: 'tick', payload: null, key: 'tick' })
  worker.wake()
  await until(() => runs.length === 3, 'three runs')
  t.ok(runs[1]! - runs[0]! >= 45, 'waited until asked')
  await until(async () => (await listJobs(store.db)).length === 0, 'the job to finish for good')
  t.same(await add(store, { task: 'tick', payload: null, key: 'tick' }).then((r) => r.deduped), false, 'its key is free again')
})
