import t, { type Test } from 'tap'
import { z } from 'zod'
import { PermanentError, RetryLaterError } from '../../../shared/errors.js'
import { claimJobs, discardDeadJob, enqueue, listJobs, queueStats, retryDeadJob, type EnqueueSpec } from '../../../server/queue/queue.js'
import { Worker, backoffDelay, type JobContext, type TaskDefinition, type TaskResult } from '../../../server/queue/worker.js'
import { silentLog, tempStore } from '../../support/db.js'
import { TestClock, advanceUntil } from '../../support/clock.js'
import type { Store } from '../../../shared/db/database.js'
import { runIn, type Statement } from '../../../shared/db/statement.js'

const HOUR = 3_600_000

/** A few turns of the event loop: work that takes no time, but is not done at once. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Queues a job; answers its id, or the id of the job that holds its key (deduped). */
async function add(store: Store, spec: EnqueueSpec, clock: TestClock) {
  return store.transaction(async (trx) => {
    const [added] = await runIn(trx, enqueue(spec, clock.now()))
    if (added.numAffectedRows === 1n) return { id: Number(added.insertId), deduped: false }
    const existing = await trx.selectFrom('jobs').select('id').where('key', '=', spec.key!).executeTakeFirstOrThrow()
    return { id: existing.id, deduped: true }
  })
}

type Handler = (payload: any, ctx: JobContext) => Promise<void | TaskResult>

/** Tasks that take any payload (the payload checks have a test of their own). */
function anyPayload(handlers: Record<string, Handler>): Record<string, TaskDefinition> {
  return Object.fromEntries(Object.entries(handlers).map(([name, run]) => [name, { payload: z.unknown(), run }]))
}

function startWorker(
  t: Test,
  store: Store,
  clock: TestClock,
  tasks: Record<string, TaskDefinition>,
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
    clock,
    ...opts,
  })
  worker.start()
  t.teardown(() => worker.stop(1_000))
  return worker
}

t.test('enqueue commits or rolls back with the caller transaction', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  await t.rejects(
    store.transaction(async (trx) => {
      await runIn(trx, enqueue({ task: 'x', payload: { n: 1 } }, Date.now()))
      throw new Error('the webhook could not be stored')
    }),
  )
  t.equal((await listJobs(store.db)).length, 0, 'no job without the record it belongs to')
  await add(store, { task: 'x', payload: { n: 2 } }, clock)
  const jobs = await listJobs(store.db)
  t.equal(jobs.length, 1)
  t.same(JSON.parse(jobs[0]!.payload), { n: 2 })
  t.equal(jobs[0]!.state, 'waiting')
})

t.test('a dedupe key makes a second enqueue a no-op while the job exists', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const first = await add(store, { task: 'x', payload: 1, key: 'twilio:SM1' }, clock)
  const again = await add(store, { task: 'x', payload: 2, key: 'twilio:SM1' }, clock)
  const other = await add(store, { task: 'x', payload: 3, key: 'twilio:SM2' }, clock)
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

t.test('the store wakes the worker when a transaction that queued commits, not before, not for a rollback', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const seen: number[] = []
  startWorker(t, store, clock, anyPayload({ note: async (p) => void seen.push(p) }))
  let inside = -1
  await store.transaction(async (trx) => {
    await runIn(trx, enqueue({ task: 'note', payload: 7 }, clock.now()))
    await turns(20)
    inside = seen.length
  })
  t.equal(inside, 0, 'nothing ran while the transaction was open')
  await t.rejects(
    store.transaction(async (trx) => {
      await runIn(trx, enqueue({ task: 'note', payload: 8 }, clock.now()))
      throw new Error('rolled back')
    }),
  )
  // No clock movement and an hour's poll: only the commit can have woken the worker.
  while (seen.length === 0) await turns(1)
  t.same(seen, [7])
  while ((await listJobs(store.db)).length > 0) await turns(1)
  t.same(seen, [7], 'the rolled-back job never existed')
})

t.test('a payload that does not fit its task fails that job for good, saying why; others run', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const sent: number[] = []
  const settled: string[] = []
  startWorker(
    t,
    store,
    clock,
    {
      send: {
        payload: z.object({ messageId: z.number().int() }),
        run: async ({ messageId }: { messageId: number }) => void sent.push(messageId),
      },
    },
    { onSettled: (_j, outcome) => settled.push(outcome) },
  )
  await add(store, { task: 'send', payload: { messageId: 'twelve' } }, clock)
  await add(store, { task: 'send', payload: { messageId: 12 } }, clock)
  await advanceUntil(clock, () => settled.length === 2, 'both jobs to settle')
  t.same(sent, [12], 'the payload that fits ran')
  const [dead] = await listJobs(store.db, 'dead')
  t.equal(dead?.attempts, 1, 'not retried: it would never fit')
  t.match(dead?.last_error, /payload of job \d+ \(send\) does not fit the task: messageId: /)
})

t.test('jobs sharing an ordering key run one at a time, in queue order; other keys run in parallel', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const order: Record<string, number[]> = {}
  const active: Record<string, number> = {}
  let maxPerKey = 0
  let maxOverall = 0
  let overall = 0
  startWorker(
    t,
    store,
    clock,
    anyPayload({
      step: async ({ key, n }: { key: string; n: number }) => {
        active[key] = (active[key] ?? 0) + 1
        overall++
        maxPerKey = Math.max(maxPerKey, active[key])
        maxOverall = Math.max(maxOverall, overall)
        // Later jobs take fewer turns, so any reordering would show.
        await turns(Math.max(1, 12 - n))
        ;(order[key] ??= []).push(n)
        active[key]--
        overall--
      },
    }),
    { concurrency: 3 },
  )
  const keys = ['+14155550101', '+14155550102', '+14155550103', '+14155550104', '+14155550105']
  await store.transaction(async (trx) => {
    for (let n = 0; n < 10; n++) {
      for (const key of keys) await runIn(trx, enqueue({ task: 'step', payload: { key, n }, queueKey: key }, clock.now()))
    }
  })
  await advanceUntil(clock, () => keys.every((k) => order[k]?.length === 10), 'every job to run')
  for (const key of keys) t.same(order[key], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `jobs for ${key} ran in order`)
  t.equal(maxPerKey, 1, 'never two jobs of one key at once')
  t.ok(maxOverall > 1, 'different keys ran side by side')
  t.ok(maxOverall <= 3, 'never more than the concurrency limit')
})

t.test('a failing job keeps its place: later jobs with its key wait for it', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const ran: string[] = []
  let failures = 2
  startWorker(
    t,
    store,
    clock,
    anyPayload({
      post: async ({ text }: { text: string }) => {
        if (text === 'first' && failures-- > 0) throw new Error('Intercom answered 503')
        ran.push(text)
      },
    }),
  )
  await add(store, { task: 'post', payload: { text: 'first' }, queueKey: 'k' }, clock)
  await add(store, { task: 'post', payload: { text: 'second' }, queueKey: 'k' }, clock)
  await advanceUntil(clock, () => ran.length === 2, 'both jobs to run')
  t.same(ran, ['first', 'second'])
})

t.test('failures retry with growing, jittered backoff, then the job is dead with its last error', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const attempts: number[] = []
  const settled: string[] = []
  startWorker(
    t,
    store,
    clock,
    anyPayload({
      flaky: async (_p, { job }) => {
        attempts.push(clock.now())
        throw new Error(`upstream 500 on attempt ${job.attempts}`)
      },
    }),
    { backoff: { baseMs: 1_000, maxMs: 60_000 }, onSettled: (_j, outcome) => settled.push(outcome) },
  )
  await add(store, { task: 'flaky', payload: null, maxAttempts: 5 }, clock)
  await advanceUntil(clock, () => settled.at(-1) === 'dead', 'the job to die', { step: 100 })
  t.equal(attempts.length, 5, 'tried exactly max_attempts times')
  t.same(settled, ['retry', 'retry', 'retry', 'retry', 'dead'])
  for (const [i, gap] of attempts.slice(1).map((at, i) => [i + 1, at - attempts[i]!] as const)) {
    t.ok(
      gap >= 500 && gap <= 1_000 * 2 ** (i - 1) + 200,
      `retry ${i} waited ${gap} ms of clock time: at least half the base, at most the ceiling`,
    )
  }
  const [dead] = await listJobs(store.db, 'dead')
  t.equal(dead?.attempts, 5)
  t.match(dead?.last_error, /upstream 500 on attempt 5/, 'keeps the last error')
  t.equal((await queueStats(store.db, clock.now())).dead, 1)

  // The delay ceiling doubles per attempt; jitter picks a point below it, never less than base/2.
  for (const attempt of [1, 2, 3, 4, 5]) {
    const ceiling = 20 * 2 ** (attempt - 1)
    t.equal(
      backoffDelay(attempt, 20, 10_000, () => 1),
      ceiling,
      `attempt ${attempt}: ceiling ${ceiling}`,
    )
    t.equal(
      backoffDelay(attempt, 20, 10_000, () => 0),
      10,
      'floor of half the base',
    )
  }
  t.equal(
    backoffDelay(30, 20, 10_000, () => 1),
    10_000,
    'capped',
  )
})

t.test('a job can ask for a specific delay; a permanent error goes straight to dead', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const runs: number[] = []
  let first = true
  startWorker(
    t,
    store,
    clock,
    anyPayload({
      limited: async () => {
        runs.push(clock.now())
        if (first) {
          first = false
          throw new RetryLaterError(300_000, 'rate limited until the window resets')
        }
      },
      doomed: async () => {
        throw new PermanentError('the number is not a mobile phone')
      },
    }),
  )
  await add(store, { task: 'limited', payload: null }, clock)
  await add(store, { task: 'doomed', payload: null }, clock)
  await advanceUntil(clock, () => runs.length === 2, 'the limited job to run again', { step: 1_000 })
  t.ok(runs[1]! - runs[0]! >= 300_000, `waited the asked delay (${runs[1]! - runs[0]!} ms), no poll needed`)
  t.ok(runs[1]! - runs[0]! < 302_000, 'and ran as soon as it was due')
  const dead = await listJobs(store.db, 'dead')
  t.equal(dead.length, 1)
  t.equal(dead[0]?.task, 'doomed')
  t.equal(dead[0]?.attempts, 1, 'not retried')
  t.match(dead[0]?.last_error, /not a mobile phone/)
})

t.test('dead jobs can be retried or discarded; a retry wakes the worker', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  let fail = true
  const done: string[] = []
  startWorker(
    t,
    store,
    clock,
    anyPayload({
      x: async ({ id }: { id: string }) => {
        if (fail) throw new PermanentError('bad')
        done.push(id)
      },
    }),
  )
  await add(store, { task: 'x', payload: { id: 'a' } }, clock)
  await add(store, { task: 'x', payload: { id: 'b' } }, clock)
  await advanceUntil(clock, async () => (await listJobs(store.db, 'dead')).length === 2, 'both jobs to die')
  const [a, b] = await listJobs(store.db, 'dead')
  fail = false
  t.equal(await retryDeadJob(store, a!.id, clock.now()), true)
  t.equal(await discardDeadJob(store, b!.id), true)
  t.equal(await retryDeadJob(store, b!.id, clock.now()), false, 'a discarded job is gone')
  // The clock stands still and the poll is an hour away: the retry's commit woke the worker.
  while (done.length === 0) await turns(1)
  t.same(done, ['a'])
  await advanceUntil(clock, async () => (await listJobs(store.db)).length === 0, 'the queue to empty')
})

t.test('a delayed job runs when due, without polling', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  let ranAt = 0
  startWorker(t, store, clock, anyPayload({ later: async () => void (ranAt = clock.now()) }))
  const runAt = clock.now() + 60_000
  await add(store, { task: 'later', payload: null, runAt }, clock)
  await turns(50)
  t.equal(ranAt, 0, 'not before its time')
  await advanceUntil(clock, () => ranAt > 0, 'the delayed job to run', { step: 1_000 })
  t.ok(ranAt >= runAt && ranAt < runAt + 2_000, 'when due')
})

t.test('a job whose worker died is claimed again once its lease runs out', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  await add(store, { task: 'x', payload: 'p' }, clock)
  const now = clock.now()
  const [claimed] = await claimJobs(store, { workerId: 'dead-worker', limit: 10, leaseMs: 60_000, now })
  t.equal(claimed?.attempts, 1)
  t.same(
    await claimJobs(store, { workerId: 'other', limit: 10, leaseMs: 60_000, now: now + 59_999 }),
    [],
    'not claimable while the lease holds',
  )
  const [again] = await claimJobs(store, { workerId: 'other', limit: 10, leaseMs: 60_000, now: now + 60_000 })
  t.equal(again?.id, claimed?.id, 'claimed again after the lease')
  t.equal(again?.locked_by, 'other')
  t.equal(again?.attempts, 2, 'the lost run counts as an attempt')
})

t.test('a job that keeps killing its process is buried after its last attempt', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  await add(store, { task: 'x', payload: 'p', maxAttempts: 2 }, clock)
  const now = clock.now()
  await claimJobs(store, { workerId: 'w1', limit: 1, leaseMs: 10_000, now })
  await claimJobs(store, { workerId: 'w2', limit: 1, leaseMs: 10_000, now: now + 10_000 })
  t.same(await claimJobs(store, { workerId: 'w3', limit: 1, leaseMs: 10_000, now: now + 20_000 }), [])
  const [dead] = await listJobs(store.db, 'dead')
  t.match(dead?.last_error, /lease expired/)
})

t.test('a running job keeps its lease while it runs, however long', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  let release!: () => void
  const started = new Promise<void>((r) => (release = r))
  let finish!: () => void
  const gate = new Promise<void>((r) => (finish = r))
  startWorker(t, store, clock, anyPayload({ long: async () => (release(), gate) }), { leaseMs: 60_000 })
  await add(store, { task: 'long', payload: null }, clock)
  await advanceUntil(clock, () => started.then(() => true), 'the job to start')
  const from = clock.now()
  // Ten leases long, the heartbeat (every third of a lease) writing as the clock goes.
  await advanceUntil(clock, () => clock.now() >= from + 600_000, 'ten leases to pass', { step: 5_000 })
  t.same(await claimJobs(store, { workerId: 'thief', limit: 10, leaseMs: 1_000, now: clock.now() }), [], 'the heartbeat kept the lease')
  finish()
  await advanceUntil(clock, async () => (await listJobs(store.db)).length === 0, 'the job to finish')
})

t.test('stop waits for running jobs, then claims nothing more', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  let finished = false
  let finish!: () => void
  const gate = new Promise<void>((r) => (finish = r))
  const worker = new Worker({
    store,
    log: silentLog,
    pollIntervalMs: HOUR,
    clock,
    tasks: anyPayload({
      slow: async () => {
        await gate
        finished = true
      },
    }),
  })
  worker.start()
  await add(store, { task: 'slow', payload: null }, clock)
  while (worker.activeJobs !== 1) await turns(1)
  let stopped = false
  const stopping = worker.stop(60_000).then(() => (stopped = true))
  await turns(50)
  t.equal(stopped, false, 'stop waits while the job runs')
  finish()
  await stopping
  t.equal(finished, true, 'the running job completed before stop returned')
  await add(store, { task: 'slow', payload: null }, clock)
  clock.advance(2 * HOUR)
  await turns(50)
  t.equal((await listJobs(store.db, 'waiting')).length, 1, 'a stopped worker takes no new work')
  t.equal(clock.pending, 0, 'and left no timer behind')
})

t.test('a recurring job is kept and runs again when it asks to', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const runs: number[] = []
  let fail = true
  startWorker(
    t,
    store,
    clock,
    anyPayload({
      tick: async () => {
        if (fail) {
          fail = false
          throw new Error('first run fails')
        }
        runs.push(clock.now())
        if (runs.length < 3) return { runAgainAt: clock.now() + 300_000 }
      },
    }),
  )
  await add(store, { task: 'tick', payload: null, key: 'tick' }, clock)
  await advanceUntil(clock, () => runs.length === 3, 'three runs', { step: 1_000 })
  t.ok(runs[1]! - runs[0]! >= 300_000, 'waited until asked')
  await advanceUntil(clock, async () => (await listJobs(store.db)).length === 0, 'the job to finish for good')
  t.same(await add(store, { task: 'tick', payload: null, key: 'tick' }, clock).then((r) => r.deduped), false, 'its key is free again')
})

t.test('a task that completes itself commits its last writes and its completion together, once', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const settled: string[] = []
  const record = (key: string) => store.db.insertInto('webhook_receipts').values({ source: 'job', key, received_at: 1 }).compile()
  // Every `run` the worker makes, as the statements it sends.
  const planned: string[][] = []
  const watched: Store = Object.create(store, {
    run: { value: (...statements: Statement[]) => (planned.push(statements.map((q) => q.sql)), store.run(...statements)) },
  })
  startWorker(
    t,
    watched,
    clock,
    anyPayload({
      finish: async (payload: { key: string }, ctx) => {
        const [inserted] = await ctx.complete(record(payload.key))
        t.equal(inserted?.numAffectedRows, 1n, "the task gets its own statements' results")
        t.same(await listJobs(store.db), [], 'the job is gone as its write commits')
      },
      brokenAfter: async (payload: { key: string }, ctx) => {
        await ctx.complete(record(payload.key))
        throw new Error('a bug after the last write')
      },
    }),
    { onSettled: (_j, outcome) => settled.push(outcome) },
  )
  await add(store, { task: 'finish', payload: { key: 'a' } }, clock)
  await advanceUntil(clock, () => settled.length === 1, 'the job to settle')
  const deletes = planned.flatMap((queries, i) => queries.filter((q) => q.startsWith('delete from "jobs"')).map(() => i))
  t.equal(deletes.length, 1, 'the job is completed once')
  t.match(planned[deletes[0]!], [/^insert into "webhook_receipts"/, /^delete from "jobs"/], 'in the same run as the record, after it')
  await add(store, { task: 'brokenAfter', payload: { key: 'b' } }, clock)
  await advanceUntil(clock, () => settled.length === 2, 'the second job to settle')
  t.same(settled, ['completed', 'completed'], 'a throw after completing retries nothing')
  t.same(await listJobs(store.db), [], 'no job left to run again')
  const keys = (await store.db.selectFrom('webhook_receipts').select('key').where('source', '=', 'job').orderBy('key').execute()).map(
    (r) => r.key,
  )
  t.same(keys, ['a', 'b'], 'each write committed once')
})

t.test('runUntilIdle runs due jobs, and the jobs they queue, until none is due: no polling, no timers', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const ran: string[] = []
  let failures = 1
  const worker = new Worker({
    store,
    log: silentLog,
    clock,
    backoff: { baseMs: 1_000, maxMs: 1_000 },
    tasks: anyPayload({
      first: async (n: number) => {
        ran.push(`first ${n}`)
        await store.run(enqueue({ task: 'second', payload: n }, clock.now()))
      },
      second: async (n: number) => {
        ran.push(`second ${n}`)
        if (failures-- > 0) throw new Error('once')
      },
      later: async () => {
        ran.push('later')
      },
    }),
  })
  await add(store, { task: 'first', payload: 1 }, clock)
  await add(store, { task: 'later', payload: null, runAt: clock.now() + HOUR }, clock)
  await worker.runUntilIdle()
  t.same(
    ran,
    ['first 1', 'second 1'],
    'the due job and the job it queued ran; the failed one waits out its backoff, the later one its turn',
  )
  t.equal(clock.pending, 0, 'the worker was never started: no timer was set')

  // A retry due within the window is waited for on the worker's clock, which this test moves.
  const idle = worker.runUntilIdle({ withinMs: 60_000 })
  await advanceUntil(clock, () => ran.length === 3, 'the retry to run', { step: 100 })
  await idle
  t.same(ran, ['first 1', 'second 1', 'second 1'], 'a retry due within the window ran at its time')
  t.same(
    (await listJobs(store.db)).map((j) => j.task),
    ['later'],
    'the job due in an hour still waits',
  )
})

t.test('runUntilIdle gives up after its rounds, naming the jobs that keep coming back', async (t) => {
  const store = await tempStore(t)
  const clock = new TestClock()
  const worker = new Worker({ store, log: silentLog, clock, tasks: anyPayload({ again: async () => ({ runAgainAt: clock.now() }) }) })
  await add(store, { task: 'again', payload: null }, clock)
  await t.rejects(worker.runUntilIdle({ withinMs: 60_000, maxRounds: 5 }), /jobs still pending after 5 rounds: .*"task":"again"/)
})
