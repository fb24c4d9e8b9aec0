import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './support/db.js'
import { SERVICE_ENV, startServiceProcess } from './support/process.js'
import { stopWhileAJobRuns } from './support/graceful.js'

t.test('the same service runs under Deno 2', async (t) => {
  const cwd = tempDir(t)
  const service = await startServiceProcess(t, 'deno', { ...SERVICE_ENV, DATABASE_URL: 'file:./deno.db' }, cwd, 60_000)
  const ready = await fetch(`${service.url}/readyz`)
  t.equal(ready.status, 200, 'ready', { output: service.output() })
  t.same(await ready.json(), { status: 'ready' })
  t.ok(existsSync(join(cwd, 'deno.db')), 'migrated its own database')
  const missing = await fetch(`${service.url}/nowhere`)
  t.equal(missing.status, 404)
  await service.stop()
})

t.test('under Deno, SIGTERM while a job runs: the job finishes, the database is closed, exit code 0', (t) =>
  stopWhileAJobRuns(t, 'deno', 60_000),
)
