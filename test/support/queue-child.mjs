// A worker process for the multi-process queue tests, built from the compiled service code (the
// test command builds it first). Usage: node queue-child.mjs DB_PATH OUT_FILE LEASE_MS
import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { openStore } from '../../dist/shared/db/database.js'
import { Worker } from '../../dist/server/jobs/worker.js'

const [dbPath, outFile, leaseMs] = process.argv.slice(2)
const store = await openStore({ url: `file:${dbPath}` })
const worker = new Worker({
  store,
  log: pino({ level: 'silent' }),
  concurrency: 4,
  leaseMs: Number(leaseMs),
  pollIntervalMs: 20,
  tasks: {
    // Records who ran what; the pause keeps every slot busy for a while, so both processes get work.
    record: async ({ n }) => {
      appendFileSync(outFile, `start ${n} ${process.pid}\n`)
      await sleep(10 + Math.random() * 10)
      appendFileSync(outFile, `end ${n} ${process.pid}\n`)
    },
    // Never finishes on its own: the test kills the process while it runs.
    hang: async ({ n }) => {
      appendFileSync(outFile, `start ${n} ${process.pid}\n`)
      await sleep(600_000)
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
