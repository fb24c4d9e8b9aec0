import t from 'tap'
import { buildTestApp, causedJobs, drain, inboundForm, postSms } from '../../helper.js'

const TOKEN = 'admin-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }

t.test('without ADMIN_TOKEN the metrics and admin API are off, and say so and how to turn them on', async (t) => {
  const ctx = await buildTestApp(t)
  for (const url of ['/metrics', '/admin/jobs']) {
    const res = await ctx.app.inject({ method: 'GET', url, headers: auth })
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().error.code, 'admin_off')
    t.match(res.json().error.message, `${url} is off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN`)
  }
})

t.test('the token is required and checked', async (t) => {
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN: TOKEN } })
  for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789abc' }, { authorization: TOKEN }]) {
    t.equal((await ctx.app.inject({ method: 'GET', url: '/metrics', headers })).statusCode, 401)
    t.equal((await ctx.app.inject({ method: 'GET', url: '/admin/jobs', headers })).statusCode, 401)
  }
})

t.test('metrics: webhooks by route and outcome, queue, texts, API latency and 429s', async (t) => {
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN: TOKEN } })
  await postSms(ctx, inboundForm(ctx, { Body: 'one' }))
  await postSms(ctx, inboundForm(ctx, { Body: 'forged' }), { signature: 'nope' })
  await drain(ctx.app)
  ctx.intercom.failNext({ status: 429, headers: { 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000)) } })
  await postSms(ctx, inboundForm(ctx, { Body: 'two' }))
  await drain(ctx.app)
  // The worker may still be settling its last job (a commit or two) while the metrics are read.
  const before = { commits: ctx.app.store.commits, writes: ctx.app.store.writes }
  const res = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: auth })
  const after = { commits: ctx.app.store.commits, writes: ctx.app.store.writes }
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain/)
  const body = res.body
  t.match(body, 'bridge_http_requests_total{route="/twilio/sms",status="200"} 2')
  t.match(body, 'bridge_http_requests_total{route="/twilio/sms",status="403"} 1')
  // Only the recurring jobs every start queues (catch-up, pruning, checkpoint) are left waiting.
  t.equal((await causedJobs(ctx.app)).length, 0)
  t.match(
    body,
    `bridge_jobs{state="waiting"} ${(await ctx.app.store.db.selectFrom('jobs').select('id').where('state', '=', 'waiting').execute()).length}`,
  )
  t.match(body, 'bridge_jobs{state="dead"} 0')
  t.match(body, /bridge_queue_oldest_due_seconds \d/)
  t.match(body, 'bridge_texts{direction="inbound",status="delivered_to_intercom",error_code=""} 2')
  t.match(body, /bridge_api_request_duration_seconds_count\{api="intercom",status="200"\} [1-9]/)
  t.match(body, 'bridge_api_rate_limited_total{api="intercom"} 1')
  t.match(body, /bridge_jobs_settled_total\{task="inbound.deliver",outcome="retry"\} 1/)
  t.match(body, /bridge_process_resident_memory_bytes/)
  const counter = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(body)?.[1])
  const commits = counter('bridge_db_commits_total')
  const writes = counter('bridge_db_writes_total')
  t.ok(
    commits >= before.commits && commits <= after.commits,
    `commits as the store counts them (${before.commits} <= ${commits} <= ${after.commits})`,
  )
  t.ok(
    writes >= before.writes && writes <= after.writes,
    `writes as the store counts them (${before.writes} <= ${writes} <= ${after.writes})`,
  )
  t.ok(counter('bridge_db_writes_total') >= counter('bridge_db_commits_total') && counter('bridge_db_commits_total') > 0)
})

t.test('dead jobs can be listed, retried and discarded through the admin API', async (t) => {
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN: TOKEN } })
  ctx.intercom.failNext({ status: 403, times: 2 })
  await postSms(ctx, inboundForm(ctx, { Body: 'a', From: '+14155550101' }))
  await drain(ctx.app)
  await postSms(ctx, inboundForm(ctx, { Body: 'b', From: '+14155550102' }))
  await drain(ctx.app)
  const list = await ctx.app.inject({ method: 'GET', url: '/admin/jobs', headers: auth })
  const jobs = list.json().jobs as Array<{ id: number; task: string; last_error: string }>
  t.equal(jobs.length, 2)
  t.match(jobs[0], { task: 'inbound.deliver', last_error: /403/ })
  t.equal((await ctx.app.inject({ method: 'GET', url: '/admin/jobs?state=nope', headers: auth })).statusCode, 400)

  const retried = await ctx.app.inject({ method: 'POST', url: `/admin/jobs/${jobs[0]!.id}/retry`, headers: auth })
  t.same(retried.json(), { retried: jobs[0]!.id })
  const discarded = await ctx.app.inject({ method: 'DELETE', url: `/admin/jobs/${jobs[1]!.id}`, headers: auth })
  t.same(discarded.json(), { discarded: jobs[1]!.id })
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/admin/jobs/${jobs[1]!.id}`, headers: auth })).statusCode, 404)
  await drain(ctx.app)
  t.equal(ctx.intercom.conversations.length, 1, 'the retried text reached Intercom')
  t.same((await ctx.app.inject({ method: 'GET', url: '/admin/jobs', headers: auth })).json(), { jobs: [] })
})

t.test('public media links are rate limited per client; signed webhooks are not', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  let limited = 0
  for (let i = 0; i < 310; i++) {
    const res = await ctx.app.inject({ method: 'GET', url: `/media/guess${i}` })
    if (res.statusCode === 429) limited++
  }
  t.equal(limited, 10, 'past 300 a minute')
  let refused = 0
  for (let i = 0; i < 400; i++) {
    const res = await postSms(ctx, inboundForm(ctx, { Body: `burst ${i}` }))
    if (res.statusCode !== 200) refused++
  }
  t.equal(refused, 0, '400 signed texts in a burst all accepted')
})
