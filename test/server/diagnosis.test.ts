import t from 'tap'
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { buildTestApp, inboundForm, postIntercomWebhook, postSms, PUBLIC_URL } from '../helper.js'
import { startIntercomStandIn } from '../../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../../sandbox/twilio/index.js'
import { runDoctor } from '../../server/ops/doctor.js'
import { REFUSAL_LOG_INTERVAL_MS } from '../../server/refusals.js'
import { OUTAGE_LOG_INTERVAL_MS } from '../../server/clients/reachability.js'
import { TestClock, advanceUntil } from '../support/clock.js'

t.test(
  'a refused signature is one warning a minute per surface, saying what was checked and the likely cause; doctor counts them',
  async (t) => {
    const clock = new TestClock(1_800_000_000_000)
    const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN: 'admin-token-0123456789abcdef' }, build: { clock } })
    const { app, logs } = ctx
    // doctor asks the running service, over HTTP, as it does on the machine the service runs on.
    const serviceUrl = await app.listen({ port: 0, host: '127.0.0.1' })
    const form = inboundForm(ctx)
    // Twilio signs the URL it calls; here it calls another host than PUBLIC_URL names.
    const refuse = (signature = 'c29tZS1zaWduYXR1cmU=') =>
      app.inject({
        method: 'POST',
        url: '/twilio/sms',
        headers: { host: 'bridge-old.fly.dev', 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        payload: new URLSearchParams(form).toString(),
      })
    const warnings = () => logs.records().filter((r) => r.surface === 'twilio' && r.level === 40)
    t.equal((await refuse()).statusCode, 403)
    t.equal(warnings().length, 1)
    const [first] = warnings()
    t.match(first, {
      reason: 'mismatch',
      header: 'X-Twilio-Signature',
      signedUrl: `${PUBLIC_URL}/twilio/sms`,
      host: 'bridge-old.fly.dev',
      refusedSinceStart: 1,
      msg: /^Twilio webhooks \(texts and delivery statuses\): request refused, X-Twilio-Signature does not match \(signed with the auth token\); likely cause: the webhook URL set on the number is not under PUBLIC_URL \(https:\/\/sms-bridge\.example\.com; /,
    })
    for (let i = 0; i < 5; i++) t.equal((await refuse()).statusCode, 403)
    t.equal(warnings().length, 1, 'no more warnings within the minute')
    clock.advance(REFUSAL_LOG_INTERVAL_MS)
    await refuse()
    t.equal(warnings().length, 2, 'a minute later, one more')
    t.match(warnings()[1], { refusedSinceLastWarning: 6, refusedSinceStart: 7 })
    t.notMatch(logs.text, 'c29tZS1zaWduYXR1cmU=', 'the signature is never logged')
    t.notMatch(logs.text, ctx.twilio.authToken, 'nor the secret')

    // Another surface has a minute of its own; a missing header is named as such.
    t.equal((await postIntercomWebhook(ctx, { type: 'notification_event', topic: 'ping' }, { signature: null })).statusCode, 401)
    t.match(
      logs.records().find((r) => r.surface === 'intercom_webhooks'),
      {
        reason: 'missing_header',
        msg: /Intercom webhooks: request refused, no X-Hub-Signature header; likely cause: no X-Hub-Signature header: the request did not come from Intercom/,
      },
    )
    t.equal((await postSms(ctx, form)).statusCode, 200, 'a well-signed text still goes through')

    const rows = await app.store.db.selectFrom('settings_cache').select('key').execute()
    t.notOk(
      rows.some((r) => r.key.includes('refus')),
      'a refusal writes nothing to the database',
    )
    const report = (await runDoctor(ctx.config, app.store, app.clients, { now: clock.now() + 120_000, serviceUrl })).map(
      (r) => `${r.ok ? 'ok' : 'FAIL'} ${r.line}`,
    )
    t.ok(
      report.includes(
        'FAIL Twilio webhooks (texts and delivery statuses): 7 request(s) refused for their signature since the service started 3 min ago, the last 2 min ago; likely cause: the webhook URL set on the number is not under PUBLIC_URL (https://sms-bridge.example.com; sms-bridge setup prints the URLs to set), or TWILIO_AUTH_TOKEN is not the auth token of the account that owns the number.',
      ),
      report.join('\n'),
    )
    t.ok(report.some((l) => l.startsWith('FAIL Intercom webhooks: 1 request(s) refused')))
    const metric = await app.metrics.registry.getSingleMetricAsString('bridge_signature_refusals_total')
    t.match(metric, /bridge_signature_refusals_total\{surface="twilio",reason="mismatch"\} 7/)
    t.match(metric, /bridge_signature_refusals_total\{surface="intercom_webhooks",reason="missing_header"\} 1/)
  },
)

/**
 * A TCP relay to `target` on a port of its own that can be taken down (nothing listens:
 * ECONNREFUSED), made to reset every connection once a request arrives (ECONNRESET), and brought back.
 */
async function relay(target: number) {
  const sockets = new Set<Socket>()
  let server: Server
  let resetting = false
  const listen = (port: number) =>
    new Promise<number>((resolve) => {
      server = createServer((client) => {
        if (resetting) {
          client.on('error', () => {}).once('data', () => client.resetAndDestroy())
          return
        }
        const upstream = connect(target, '127.0.0.1')
        sockets.add(client).add(upstream)
        client.pipe(upstream).pipe(client)
        client.on('error', () => upstream.destroy())
        upstream.on('error', () => client.destroy())
      })
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
    })
  const port = await listen(0)
  return {
    port,
    down: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        sockets.clear()
        server.close(() => resolve())
      }),
    up: () => listen(port),
    /** Connections are accepted, then reset as soon as a request arrives. */
    reset: (on: boolean) => {
      resetting = on
      for (const s of sockets) s.destroy()
      sockets.clear()
    },
    close: () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
  }
}

t.test('an upstream outage is one line a minute (code, host, what happens next), no stack, and a line when it is over', async (t) => {
  const intercom = await startIntercomStandIn()
  const twilio = await startTwilioStandIn()
  t.teardown(() => intercom.close())
  t.teardown(() => twilio.close())
  const link = await relay(Number(new URL(intercom.url).port))
  t.teardown(() => link.close())
  const clock = new TestClock(1_800_000_000_000)
  const ctx = await buildTestApp(t, {
    standIns: { twilio, intercom },
    env: { INTERCOM_API_BASE_URL: `http://127.0.0.1:${link.port}` },
    // Retries 50-100 ms of clock time apart: a few attempts each time the clock moves a little.
    build: { clock, worker: { backoff: { baseMs: 100, maxMs: 100 } } },
  })
  const started = clock.now()
  const { app, logs } = ctx
  await link.down()
  t.equal((await postSms(ctx, inboundForm(ctx, { Body: 'anyone there?' }))).statusCode, 200)
  const attempts = async () =>
    (await app.store.db.selectFrom('jobs').select('attempts').where('task', '=', 'inbound.deliver').executeTakeFirst())?.attempts ?? 0
  await advanceUntil(clock, async () => (await attempts()) >= 2, 'two attempts against the unreachable API')
  const outageLines = () => logs.records().filter((r) => r.code === 'ECONNREFUSED')
  t.equal(outageLines().length, 1, 'one line for several failed attempts within the minute')
  t.match(outageLines()[0], {
    level: 40,
    api: 'intercom',
    host: `127.0.0.1:${link.port}`,
    msg: new RegExp(
      `^Intercom unreachable \\(ECONNREFUSED at 127\\.0\\.0\\.1:${link.port}\\); job inbound\\.deliver will be tried again in \\d+ s \\(attempt 1 of \\d+\\)$`,
    ),
  })
  t.notMatch(logs.text, /"stack"/, 'no stack trace for an outage')
  t.notMatch(logs.text, /job failed and will be retried/)
  const before = await attempts()
  // A minute after the outage began: the retry due on the way runs then.
  clock.set(started + OUTAGE_LOG_INTERVAL_MS)
  await advanceUntil(clock, async () => (await attempts()) > before, 'another attempt a minute later', { step: 1 })
  t.equal(outageLines().length, 2, 'a minute later, one more line')
  t.match(outageLines()[1], { msg: /, for 60 s\); job inbound\.deliver will be tried again/ })

  await link.up()
  await advanceUntil(clock, () => intercom.conversations.length === 1, 'the text to reach Intercom once it is back')
  const recovered = logs.records().filter((r) => /reachable again/.test(String(r.msg)))
  t.equal(recovered.length, 1)
  t.match(recovered[0], {
    level: 30,
    api: 'intercom',
    msg: new RegExp(
      `^Intercom is reachable again at 127\\.0\\.0\\.1:${link.port} after 60 s \\(\\d+ failed calls meanwhile\\); waiting work goes on$`,
    ),
  })
})

t.test('Twilio resetting every connection: one line a minute naming ECONNRESET and the host, then a line when it answers', async (t) => {
  const intercom = await startIntercomStandIn()
  const twilio = await startTwilioStandIn()
  t.teardown(() => intercom.close())
  t.teardown(() => twilio.close())
  const link = await relay(Number(new URL(twilio.url).port))
  t.teardown(() => link.close())
  const clock = new TestClock(1_800_000_000_000)
  const ctx = await buildTestApp(t, {
    standIns: { twilio, intercom },
    env: { TWILIO_API_BASE_URL: `http://127.0.0.1:${link.port}` },
    build: { clock, worker: { backoff: { baseMs: 100, maxMs: 100 } } },
  })
  const { app, logs } = ctx
  const form = inboundForm(ctx, { Body: 'hello' })
  t.equal((await postSms(ctx, form)).statusCode, 200)
  await advanceUntil(clock, () => intercom.conversations.length === 1, 'the first text to reach Intercom')
  const conversationId = intercom.conversations[0]!.id

  link.reset(true)
  const started = clock.now()
  const part = intercom.addAdminReply(conversationId, { body: '<p>we are on it</p>' })
  t.equal((await postIntercomWebhook(ctx, intercom.notification('conversation.admin.replied', conversationId, [part]))).statusCode, 200)
  const attempts = async () =>
    (await app.store.db.selectFrom('jobs').select('attempts').where('task', '=', 'outbound.reply').executeTakeFirst())?.attempts ?? 0
  await advanceUntil(clock, async () => (await attempts()) >= 3, 'three attempts against a Twilio that resets connections')
  const outageLines = () => logs.records().filter((r) => r.api === 'twilio' && r.level === 40)
  t.equal(outageLines().length, 1, 'one line for several failed attempts within the minute')
  // Whichever job meets the outage first (the reply, or the catch-up on missed texts) says what it does next.
  t.match(outageLines()[0], {
    code: 'ECONNRESET',
    host: `127.0.0.1:${link.port}`,
    msg: new RegExp(
      `^Twilio unreachable \\(ECONNRESET at 127\\.0\\.0\\.1:${link.port}\\); (job outbound\\.reply will be tried again in \\d+ s \\(attempt \\d+ of \\d+\\)|the catch-up on missed texts tries again in 1 min)$`,
    ),
  })
  t.notMatch(logs.text, /"stack"/, 'no stack trace for an outage')
  // The first failed call came a few ms of test-clock time after `started` (the catch-up, which reads
  // the same clock, next runs in 5 minutes): the next line is due a minute after that call.
  clock.set(started + OUTAGE_LOG_INTERVAL_MS)
  await advanceUntil(clock, () => outageLines().length > 1, 'another line a minute later', { step: 1 })
  t.equal(outageLines().length, 2, 'a minute later, one more line')
  t.match(outageLines()[1], { code: 'ECONNRESET', msg: /^Twilio unreachable \(ECONNRESET at [\d.:]+, for 60 s\); / })

  link.reset(false)
  await advanceUntil(clock, () => twilio.messages.some((m) => m.body === 'we are on it'), 'the reply to be texted once Twilio answers')
  const recovered = logs.records().filter((r) => /reachable again/.test(String(r.msg)))
  t.equal(recovered.length, 1)
  t.match(recovered[0], {
    level: 30,
    api: 'twilio',
    msg: new RegExp(
      `^Twilio is reachable again at 127\\.0\\.0\\.1:${link.port} after 60 s \\(\\d+ failed calls meanwhile\\); waiting work goes on$`,
    ),
  })

  // doctor, against the same Twilio, says the same.
  link.reset(true)
  const report = (await runDoctor(ctx.config, app.store, app.clients, { now: clock.now() })).map((r) => `${r.ok ? 'ok' : 'FAIL'} ${r.line}`)
  t.ok(
    report.includes(
      `FAIL Twilio: could not reach 127.0.0.1:${link.port} (ECONNRESET: the connection was cut; a proxy or firewall on the way?).`,
    ),
    report.join('\n'),
  )
})
