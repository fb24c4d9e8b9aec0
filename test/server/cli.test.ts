import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../support/db.js'
import { SERVICE_ENV, runCli, startServiceProcess } from '../support/process.js'

t.test('start with no settings fails with one clear message and no stack trace', async (t) => {
  const cwd = tempDir(t)
  const { code, stdout, stderr } = await runCli(['start'], {}, cwd)
  t.equal(code, 1, 'non-zero exit')
  t.equal(stdout, '')
  t.match(stderr, /^Invalid configuration:/)
  for (const name of ['PUBLIC_URL', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_PHONE_NUMBER', 'INTERCOM_ACCESS_TOKEN', 'INTERCOM_CLIENT_SECRET']) {
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
  t.match(first.stdout, /Applied: 2026-11-25T00-initial, 2026-11-25T01-inbound, 2026-11-25T02-outbound, 2026-11-25T03-automated/)
  const second = await runCli(['migrate'], SERVICE_ENV, cwd)
  t.equal(second.code, 0)
  t.match(second.stdout, /up to date/)
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
