import t from 'tap'
import { buildTestApp } from '../helper.js'
import { VERSION } from '../../shared/version.js'

t.test('healthz answers while the process is alive', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok', version: VERSION }, 'with the version that answers')
  t.match(VERSION, /^\d+\.\d+\.\d+/)
})

t.test('readyz checks the database and the migrations', async (t) => {
  const { app } = await buildTestApp(t)
  const ok = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { status: 'ready' })

  // A migration the database has not seen (as after deploying code before migrating).
  await app.store.transaction((trx) => trx.deleteFrom('kysely_migration' as never).execute())
  const pending = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(pending.statusCode, 503)
  t.match(pending.json(), {
    status: 'not ready',
    reason:
      /migrations not applied: 2026-11-25T00-initial, 2026-11-25T01-inbound, 2026-11-25T02-outbound, 2026-11-25T03-automated, 2026-12-02T00-real-traffic, 2026-12-02T01-abuse/,
  })
})

t.test('readyz says not ready when the database is gone, without details', async (t) => {
  const { app } = await buildTestApp(t, { startWorker: false })
  await app.store.close()
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'not ready', reason: 'the database cannot be reached' })
})

t.test('unknown routes get a JSON 404', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'POST', url: '/nope?x=1' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { error: { code: 'not_found', message: 'No route for POST /nope' } })
})

t.test('request ids come from fly.io when present, otherwise are generated', async (t) => {
  const { app, logs } = await buildTestApp(t)
  await app.inject({ method: 'GET', url: '/nope', headers: { 'fly-request-id': '01JD5-abc' } })
  await app.inject({ method: 'GET', url: '/nope', headers: { 'fly-request-id': 'bad id <script>' } })
  const ids = logs
    .records()
    .filter((r) => r.msg === 'request completed')
    .map((r) => r.reqId as string)
  t.equal(ids[0], '01JD5-abc')
  t.match(ids[1], /^[0-9a-f-]{36}$/, 'an unsafe id is replaced')
})
