import t from 'tap'
import { migrationProvider } from '../../shared/db/migrations/index.js'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../support/db.js'
import { openStore } from '../../shared/db/database.js'
import { SERVICE_ENV, runCli, startServiceProcess } from '../support/process.js'
import { stopWhileAJobRuns } from '../support/graceful.js'

t.test('start with no settings fails with one clear message and no stack trace', async (t) => {
  const cwd = tempDir(t)
  const { code, stdout, stderr } = await runCli(['start'], {}, cwd)
  t.equal(code, 1, 'non-zero exit')
  t.equal(stdout, '')
  // The first line says where settings go: a newcomer has no .env yet.
  t.match(
    stderr,
    /^Invalid configuration\. Settings go in a \.env file in this folder \(cp \.env\.example \.env, then fill it in\) or in the environment:\n/,
  )
  for (const name of [
    'PUBLIC_URL',
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN',
    'TWILIO_PHONE_NUMBER',
    'INTERCOM_ACCESS_TOKEN',
    'INTERCOM_CLIENT_SECRET',
  ]) {
    t.match(stderr, name, `names ${name}`)
  }
  t.notMatch(stderr, /\n\s+at /, 'no stack trace')
  t.notOk(existsSync(join(cwd, 'data')), 'nothing created')
})

t.test('a bad secret is reported without its value', async (t) => {
  const cwd = tempDir(t)
  const { code, stderr } = await runCli(['start'], { ...SERVICE_ENV, PORT: 'abc', DATABASE_URL: 'libsql://x.turso.io' }, cwd)
  t.equal(code, 1)
  t.match(stderr, /PORT is invalid/)
  t.match(stderr, /DATABASE_AUTH_TOKEN is required/)
  for (const secret of [SERVICE_ENV.TWILIO_AUTH_TOKEN, SERVICE_ENV.INTERCOM_ACCESS_TOKEN, SERVICE_ENV.INTERCOM_CLIENT_SECRET]) {
    t.notMatch(stderr, secret)
  }
})

t.test('with settings, it creates the embedded database, becomes ready, and stops cleanly on SIGTERM', async (t) => {
  const cwd = tempDir(t)
  const service = await startServiceProcess(t, 'node', SERVICE_ENV, cwd)
  const ready = await fetch(`${service.url}/readyz`)
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready' })
  t.ok(existsSync(join(cwd, 'data', 'bridge.db')), 'the default database file was created on demand')
  t.equal(await service.stop(), 0, 'exit code 0 after SIGTERM')
  t.match(service.output(), /"msg":"shutting down"/)
  for (const secret of [SERVICE_ENV.TWILIO_AUTH_TOKEN, SERVICE_ENV.INTERCOM_ACCESS_TOKEN, SERVICE_ENV.INTERCOM_CLIENT_SECRET]) {
    t.notMatch(service.output(), secret, 'no secret in the logs')
  }
})

t.test('migrate applies migrations once and says so', async (t) => {
  const cwd = tempDir(t)
  const first = await runCli(['migrate'], SERVICE_ENV, cwd)
  t.equal(first.code, 0)
  t.match(
    first.stdout,
    /Applied: 2026-11-25T00-initial, 2026-11-25T01-inbound, 2026-11-25T02-outbound, 2026-11-25T03-automated, 2026-12-02T00-real-traffic, 2026-12-02T01-abuse/,
  )
  const second = await runCli(['migrate'], SERVICE_ENV, cwd)
  t.equal(second.code, 0)
  t.match(second.stdout, /up to date/)
})

t.test('three processes migrating one new database at once: every migration applied once, all succeed', async (t) => {
  const cwd = tempDir(t)
  const runs = await Promise.all([1, 2, 3].map(() => runCli(['migrate'], SERVICE_ENV, cwd)))
  t.same(
    runs.map((r) => r.code),
    [0, 0, 0],
    runs.map((r) => r.stderr).join(''),
  )
  const applied = runs.flatMap((r) => /Applied: (.*)/.exec(r.stdout)?.[1]?.split(', ') ?? [])
  const all = Object.keys(await migrationProvider.getMigrations()).sort()
  t.ok(all.length >= 7)
  t.same(applied.sort(), all)
  const store = await openStore({ url: `file:${join(cwd, 'data', 'bridge.db')}` })
  t.teardown(() => store.close())
  const rows = await store.db
    .selectFrom('kysely_migration' as never)
    .select('name' as never)
    .execute()
  t.equal(rows.length, all.length, 'recorded once each')
})

t.test('help and unknown commands', async (t) => {
  const cwd = tempDir(t)
  const help = await runCli(['help'], {}, cwd)
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: sms-bridge/)
  const unknown = await runCli(['launch'], {}, cwd)
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /Unknown command "launch"/)
})

t.test('jobs list, retry and discard work on the database directly', async (t) => {
  const cwd = tempDir(t)
  t.equal((await runCli(['migrate'], SERVICE_ENV, cwd)).code, 0)
  const store = await openStore({ url: `file:${join(cwd, 'data', 'bridge.db')}` })
  await store.transaction(async (trx) => {
    for (const task of ['inbound.deliver', 'outbound.reply']) {
      await trx
        .insertInto('jobs')
        .values({
          task,
          payload: '{}',
          state: 'dead',
          attempts: 20,
          max_attempts: 20,
          run_at: Date.parse('2026-11-30T10:00:00Z'),
          last_error: `Error: ${task} kept failing`,
          created_at: 0,
          updated_at: Date.parse('2026-12-01T08:00:00Z'),
        })
        .execute()
    }
  })
  await store.close()
  const list = await runCli(['jobs', 'list'], SERVICE_ENV, cwd)
  t.equal(list.code, 0)
  t.match(list.stdout, /^id\ttask\tstate\tattempts\tdue\tlast error$/m, 'a header')
  t.match(
    list.stdout,
    /^1\tinbound\.deliver\tdead\tattempts 20\/20\t2026-11-30T10:00:00\.000Z\tError: inbound\.deliver kept failing$/m,
    'when it was due, not when its row changed',
  )
  t.match(list.stdout, /^2\toutbound\.reply\tdead/m)
  t.match((await runCli(['jobs', 'retry', '1'], SERVICE_ENV, cwd)).stdout, 'Job 1 will run again.')
  t.match((await runCli(['jobs', 'discard', '2'], SERVICE_ENV, cwd)).stdout, 'Job 2 discarded.')
  const missing = await runCli(['jobs', 'discard', '2'], SERVICE_ENV, cwd)
  t.equal(missing.code, 1)
  t.match(missing.stdout, 'No dead job 2.')
  t.match((await runCli(['jobs', 'list'], SERVICE_ENV, cwd)).stdout, 'No dead jobs.')
  t.match((await runCli(['jobs', 'list', '--state', 'waiting'], SERVICE_ENV, cwd)).stdout, /^1\tinbound\.deliver\twaiting\tattempts 0\/20/m)
  t.equal((await runCli(['jobs', 'frobnicate'], SERVICE_ENV, cwd)).code, 2)
})

t.test('jobs retry --all-dead runs every dead job again, or those of one task', async (t) => {
  const cwd = tempDir(t)
  t.equal((await runCli(['migrate'], SERVICE_ENV, cwd)).code, 0)
  const store = await openStore({ url: `file:${join(cwd, 'data', 'bridge.db')}` })
  await store.transaction(async (trx) => {
    for (const [task, state] of [
      ['inbound.deliver', 'dead'],
      ['outbound.reply', 'dead'],
      ['outbound.reply', 'dead'],
      ['outbound.reply', 'waiting'],
    ] as const) {
      await trx
        .insertInto('jobs')
        .values({
          task,
          payload: '{}',
          state,
          attempts: state === 'dead' ? 20 : 3,
          max_attempts: 20,
          run_at: 0,
          last_error: 'Error: down',
          created_at: 0,
          updated_at: 0,
        })
        .execute()
    }
  })
  await store.close()
  const one = await runCli(['jobs', 'retry', '--all-dead', '--task', 'outbound.reply'], SERVICE_ENV, cwd)
  t.equal(one.code, 0)
  t.match(one.stdout, '2 dead job(s) of task outbound.reply will run again.')
  t.match((await runCli(['jobs', 'list'], SERVICE_ENV, cwd)).stdout, /^1\tinbound\.deliver\tdead/m, 'the other task is left dead')
  t.match((await runCli(['jobs', 'retry', '--all-dead'], SERVICE_ENV, cwd)).stdout, '1 dead job(s) will run again.')
  t.match((await runCli(['jobs', 'retry', '--all-dead'], SERVICE_ENV, cwd)).stdout, 'No dead jobs.')
  const waiting = (await runCli(['jobs', 'list', '--state', 'waiting'], SERVICE_ENV, cwd)).stdout
  t.equal(waiting.match(/attempts 0\/20/g)?.length, 3, 'each with a fresh set of attempts')
  t.match(waiting, /^4\toutbound\.reply\twaiting\tattempts 3\/20/m, 'a waiting job is left as it was')
  const bad = await runCli(['jobs', 'retry', '--all-dead', '--task'], SERVICE_ENV, cwd)
  t.equal(bad.code, 2, 'a --task without a name is a usage error, nothing changed')
})

t.test('SIGTERM while a job runs: the job finishes, the database is closed, exit code 0', (t) => stopWhileAJobRuns(t, 'node'))

t.test('LOG_FORMAT=pretty writes readable lines instead of JSON; a wrong value is explained', async (t) => {
  const cwd = tempDir(t)
  const service = await startServiceProcess(t, 'node', { ...SERVICE_ENV, LOG_FORMAT: 'pretty' }, cwd)
  t.equal(await service.stop(), 0)
  t.match(service.output(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Server listening at http:\/\/127\.0\.0\.1:\d+$/m)
  t.match(service.output(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: stopped$/m)
  t.notMatch(service.output(), /\{"level":/, 'no JSON lines')
  const wrong = await runCli(['start'], { ...SERVICE_ENV, LOG_FORMAT: 'colour' }, cwd)
  t.equal(wrong.code, 1)
  t.match(
    wrong.stderr,
    /LOG_FORMAT is invalid: expected json \(one JSON object a line, for log collectors\) or pretty \(for reading in a terminal\)/,
  )
})
