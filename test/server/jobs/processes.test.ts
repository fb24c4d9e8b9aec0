import { runIn } from '../../../shared/db/statement.js'
import t from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { enqueue, listJobs } from '../../../server/queue/queue.js'
import { tempStore } from '../../support/db.js'
import { NO_COVERAGE } from '../../support/process.js'
import { until } from '../../support/wait.js'

const CHILD = fileURLToPath(new URL('../../support/queue-child.mjs', import.meta.url))

function spawnWorker(
  t: { teardown(fn: () => void): void },
  dbPath: string,
  out: string,
  leaseMs: number,
  clockAheadMs = 0,
  concurrency = 4,
) {
  const child = fork(CHILD, [dbPath, out, String(leaseMs), String(clockAheadMs), String(concurrency)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...NO_COVERAGE },
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise<ChildProcess>((resolve, reject) => {
    child.once('message', () => resolve(child))
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)))
  })
}

function lines(file: string): string[][] {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
    : []
}

t.test('two processes on one database file never run the same job', async (t) => {
  const store = await tempStore(t)
  const out = join(store.path + '.out')
  const JOBS = 300
  // Both are running before any job exists, so both compete for every one of them.
  const [a, b] = await Promise.all([spawnWorker(t, store.path, out, 30_000), spawnWorker(t, store.path, out, 30_000)])
  await store.transaction(async (trx) => {
    for (let n = 0; n < JOBS; n++) await runIn(trx, enqueue({ task: 'record', payload: { n } }, Date.now()))
  })
  await until(async () => (await listJobs(store.db)).length === 0, 'the queue to drain', 30_000)
  const starts = lines(out).filter((l) => l[0] === 'start')
  const byJob = new Map<string, string[]>()
  for (const [, n, pid] of starts) byJob.set(n!, [...(byJob.get(n!) ?? []), pid!])
  t.equal(byJob.size, JOBS, 'every job ran')
  t.same(
    [...byJob].filter(([, pids]) => pids.length > 1),
    [],
    'no job ran twice',
  )
  const pids = new Set(starts.map((l) => l[2]))
  t.equal(pids.size, 2, 'both processes did work')
  a.kill('SIGTERM')
  b.kill('SIGTERM')
})

t.test('a job whose process is killed -9 mid-run is run again by another process after the lease', async (t) => {
  const store = await tempStore(t)
  const out = join(store.path + '.out')
  await store.run(enqueue({ task: 'hang', payload: { n: 1 } }, Date.now()))
  // A lease of a minute: the first process's heartbeat keeps it however slow the machine is. One job
  // at a time: once it runs its job it looks for no more, so the kill lands while it runs the job,
  // never inside one of its claims (what that does is the crash suite's business).
  const first = await spawnWorker(t, store.path, out, 60_000, 0, 1)
  await until(() => lines(out).length === 1, 'the first process to start the job', 30_000)
  first.kill('SIGKILL')
  const [running] = await listJobs(store.db, 'running')
  t.equal(running?.attempts, 1, 'the job is left running under the dead process')

  // The lease has not run out, and no test waits a minute for it: the next process's clock is
  // past it. That it takes the job over is the point; when the machine gets to it is not.
  const second = await spawnWorker(t, store.path, out, 60_000, 61_000)
  await until(() => lines(out).length === 2, 'another process to take the job over', 60_000)
  const [, , firstPid] = lines(out)[0]!
  const [, n, secondPid] = lines(out)[1]!
  t.equal(n, '1')
  t.equal(firstPid, String(first.pid))
  t.equal(secondPid, String(second.pid), 'taken over by the new process')
  const [again] = await listJobs(store.db, 'running')
  t.equal(again?.attempts, 2)
  second.kill('SIGKILL')
})
