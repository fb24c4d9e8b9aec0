// A worker process for the multi-process queue tests, built from the compiled service code (the
// test command builds it first). Usage: node queue-child.mjs DB_PATH OUT_FILE LEASE_MS [CLOCK_AHEAD_MS] [CONCURRENCY]
// CLOCK_AHEAD_MS sets this worker's clock that far ahead of the wall clock: a process started
// "after the lease ran out" without anyone waiting for it to run out.
import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { z } from 'zod'
import { openStore } from '../../dist/shared/db/database.js'
import { Worker } from '../../dist/server/queue/worker.js'
import { systemClock } from '../../dist/shared/clock.js'

const [dbPath, outFile, leaseMs, ahead = '0', concurrency = '4'] = process.argv.slice(2)
const clock = { ...systemClock, now: () => Date.now() + Number(ahead) }
const store = await openStore({ url: `file:${dbPath}` })
const worker = new Worker({
  store,
  log: pino({ level: 'silent' }),
  concurrency: Number(concurrency),
  leaseMs: Number(leaseMs),
  pollIntervalMs: 20,
  clock,
  tasks: {
    // Records who ran what; the pause keeps every slot busy for a while, so both processes get work.
    record: {
      payload: z.unknown(),
      run: async ({ n }) => {
        appendFileSync(outFile, `start ${n} ${process.pid}\n`)
        await sleep(10 + Math.random() * 10)
        appendFileSync(outFile, `end ${n} ${process.pid}\n`)
      },
    },
    // Never finishes on its own: the test kills the process while it runs.
    hang: {
      payload: z.unknown(),
      run: async ({ n }) => {
        appendFileSync(outFile, `start ${n} ${process.pid}\n`)
        await sleep(600_000)
      },
    },
  },
})
worker.start()
process.send?.('ready')
process.on('SIGTERM', async () => {
  await worker.stop(2_000)
  await store.close()
  process.exit(0)
})
