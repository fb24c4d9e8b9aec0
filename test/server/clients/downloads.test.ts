// Issue 26 point 4: downloads are calls of the adapters like any other. A file fetched from Twilio
// (a customer's MMS) or Intercom (a teammate's upload) is timed and counted in the API metrics (and
// so heard by the outage tracking), and a failure is an UpstreamError with the job layer's outcomes.
// Before, both went through the global fetch: no metric moved, and failures were ad-hoc results.
import t from 'tap'
import { buildTestApp, type TestApp } from '../../helper.js'
import { UpstreamError } from '../../../shared/errors.js'

/** Calls to `api` answered `status`, as /metrics counts them. */
async function counted(ctx: TestApp, api: 'twilio' | 'intercom', status: number): Promise<number> {
  const metric = await ctx.app.metrics.apiDuration.get()
  return (
    metric.values.find(
      (v) => v.metricName === 'bridge_api_request_duration_seconds_count' && v.labels.api === api && v.labels.status === String(status),
    )?.value ?? 0
  )
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof UpstreamError) return err
    throw err
  }
  throw new Error('the download did not fail')
}

t.test('TwilioApi.downloadMedia: counted as a Twilio call; another host is refused unasked', async (t) => {
  const ctx = await buildTestApp(t)
  const sent = ctx.twilio.addInboundMessage({
    from: '+14155550123',
    to: ctx.config.twilio.phoneNumbers[0]!,
    body: '',
    media: [{ contentType: 'image/png', data: Buffer.from('png!') }],
  })
  const file = await ctx.app.bridge.twilio.downloadMedia(ctx.twilio.mediaUrl(sent, 0))
  const chunks: Buffer[] = []
  for await (const chunk of file.body) chunks.push(chunk as Buffer)
  t.equal(Buffer.concat(chunks).toString(), 'png!')
  t.equal(file.contentType, 'image/png')

  // A status no other call of the test gets (the worker's own calls run meanwhile): counted once.
  const before = await counted(ctx, 'twilio', 404)
  const gone = await failure(ctx.app.bridge.twilio.downloadMedia(`${ctx.twilio.mediaUrl(sent, 0)}00`))
  t.same([gone.api, gone.outcome, gone.status], ['twilio', 'give_up', 404])
  t.equal(await counted(ctx, 'twilio', 404), before + 1, 'the download is in bridge_api_request_duration_seconds{api="twilio"}')

  const elsewhere = await failure(ctx.app.bridge.twilio.downloadMedia('https://example.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1'))
  t.equal(elsewhere.outcome, 'give_up')
  t.equal(elsewhere.details.code, 'not_twilio_host', 'our credentials never leave for another host')
})

t.test('IntercomApi.downloadUpload: counted as an Intercom call; failures classified like any call', async (t) => {
  const ctx = await buildTestApp(t)
  const src = ctx.intercom.upload({ name: 'photo.png', contentType: 'image/png', data: Buffer.from('png') })
  const copy = await ctx.app.bridge.intercom.downloadUpload(src)
  t.same([copy.contentType, Buffer.from(copy.bytes).toString()], ['image/png', 'png'])

  ctx.intercom.failUpload({ status: 503 })
  const passing = await failure(ctx.app.bridge.intercom.downloadUpload(src))
  t.same([passing.api, passing.outcome, passing.status], ['intercom', 'retry', 503], 'a 5xx may work a moment later')
  t.equal(await counted(ctx, 'intercom', 503), 1, 'the download is in bridge_api_request_duration_seconds{api="intercom"}')

  ctx.intercom.expireUploads()
  const expired = await failure(ctx.app.bridge.intercom.downloadUpload(src))
  t.same([expired.outcome, expired.message], ['give_up', "Intercom's link to it had expired"])
})
