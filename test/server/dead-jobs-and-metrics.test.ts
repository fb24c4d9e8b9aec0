import t from 'tap'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { buildTestApp, inboundForm, postSms } from '../helper.js'
import { ConfigError, loadConfig } from '../../server/config.js'
import { startService } from '../../server/main.js'
import { runDoctor } from '../../server/ops/doctor.js'
import { DEFAULT_MAX_ATTEMPTS, retryDeadJobs } from '../../server/queue/queue.js'
import { retryBudget } from '../../server/queue/worker.js'
import { standInEnv } from '../../sandbox/env.js'
import { startIntercomStandIn } from '../../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../../sandbox/twilio/index.js'
import { tempDir } from '../support/db.js'
import { LogCapture } from '../support/logs.js'

t.test('the retry budget the README states: about 76 min on average, at most about 2 h 32 min of delays', async (t) => {
  const budget = retryBudget(DEFAULT_MAX_ATTEMPTS)
  t.equal(DEFAULT_MAX_ATTEMPTS, 20)
  t.equal(budget.averageMs, 4_561_500)
  t.equal(budget.mostMs, 9_123_000)
})

t.test('a text that dies while Intercom is down is seen: bridge_jobs_dead{task}, doctor by task, retry --all-dead', async (t) => {
  // Nothing listens there, and the text's job gets two attempts: it dies quickly.
  const ctx = await buildTestApp(t, { env: { INTERCOM_API_BASE_URL: `http://127.0.0.1:${await freePort()}` } })
  const { app } = ctx
  t.equal((await postSms(ctx, inboundForm(ctx, { Body: 'is anyone there?' }))).statusCode, 200)
  await app.store.transaction((trx) => trx.updateTable('jobs').set({ max_attempts: 2 }).where('task', '=', 'inbound.deliver').execute())
  const dead = async () =>
    (await app.store.db.selectFrom('jobs').select('id').where('state', '=', 'dead').where('task', '=', 'inbound.deliver').execute()).length
  for (let i = 0; i < 400 && (await dead()) === 0; i++) await new Promise((r) => setTimeout(r, 25))
  t.equal(await dead(), 1, 'the text is dead')

  const scraped = await app.metrics.registry.getSingleMetricAsString('bridge_jobs_dead')
  t.match(scraped, /bridge_jobs_dead\{task="inbound\.deliver"\} 1/, 'the gauge names the task, read from the database at scrape')
  const report = (await runDoctor(ctx.config, app.store, app.clients)).map((r) => `${r.ok ? 'ok' : 'FAIL'} ${r.line}`)
  t.ok(
    report.some(
      (l) =>
        l.startsWith('FAIL Queue: 1 dead job(s) (inbound.deliver 1): ') &&
        l.includes('sms-bridge jobs retry --all-dead (one task: --all-dead --task inbound.deliver)'),
    ),
    report.join('\n'),
  )

  t.ok(
    report.some((l) => /^FAIL Intercom: could not reach 127\.0\.0\.1:\d+ \(ECONNREFUSED: nothing listens there\)\.$/.test(l)),
    'and why',
  )

  t.equal(await retryDeadJobs(app.store, { task: 'outbound.reply' }), 0, 'another task: nothing')
  t.equal(await dead(), 1)
  t.equal(await retryDeadJobs(app.store, {}), 1, 'every dead job')
  t.notMatch(
    await app.metrics.registry.getSingleMetricAsString('bridge_jobs_dead'),
    /inbound\.deliver/,
    'the gauge follows at the next scrape',
  )
})

/** A port that was just free: nothing listens on it. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('METRICS_LISTEN: /metrics without a token on a loopback listener; public and wildcard addresses refused', async (t) => {
  const intercom = await startIntercomStandIn()
  const twilio = await startTwilioStandIn()
  t.teardown(() => intercom.close())
  t.teardown(() => twilio.close())
  const env = standInEnv(twilio, intercom, join(tempDir(t), 'bridge.db'))
  for (const [value, said] of [
    ['0.0.0.0:9091', /METRICS_LISTEN is invalid: 0\.0\.0\.0 is not a private or loopback address/],
    ['[::]:9091', /:: is not a private or loopback address/],
    ['8.8.8.8:9091', /8\.8\.8\.8 is not a private or loopback address/],
    ['[2001:db8::1]:9091', /2001:db8::1 is not a private/],
    ['127.0.0.1', /expected host:port/],
  ] as const) {
    t.throws(() => loadConfig({ ...env, METRICS_LISTEN: value }, null), ConfigError)
    try {
      loadConfig({ ...env, METRICS_LISTEN: value }, null)
    } catch (err) {
      t.match((err as Error).message, said, value)
    }
  }
  t.same(
    loadConfig({ ...env, METRICS_LISTEN: '[fdaa:0:1:a7b::2]:9091' }, null).metricsListen,
    { host: 'fdaa:0:1:a7b::2', port: 9091 },
    "fly.io's private network is private",
  )

  const port = await freePort()
  const config = loadConfig({ ...env, METRICS_LISTEN: `127.0.0.1:${port}` }, null)
  const app = await startService(config, { listen: { port: 0, host: '127.0.0.1' }, startWorker: false, logDestination: new LogCapture() })
  t.teardown(() => app.close())
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(res.status, 200, 'no token asked')
  t.match(await res.text(), /bridge_jobs\{state="dead"\}/)
  t.equal((await fetch(`http://127.0.0.1:${port}/admin/jobs`)).status, 404, 'only /metrics: the admin API stays behind the token')
  const main = app.server.address() as AddressInfo
  t.equal(
    (await fetch(`http://127.0.0.1:${main.port}/metrics`)).status,
    404,
    'the public listener still serves nothing without ADMIN_TOKEN',
  )
  await app.close()
  t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'closed with the service')
})
