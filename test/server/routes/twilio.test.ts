import t from 'tap'
import { createHmac } from 'node:crypto'
import { buildTestApp, causedJobs, drain, inboundForm, postSms, PUBLIC_URL } from '../../helper.js'
import { signTwilio } from '../../../sandbox/twilio/index.js'

/** What requests stored: texts, the jobs they caused (not the recurring ones every start queues), receipts. */
async function counts(app: Awaited<ReturnType<typeof buildTestApp>>['app']) {
  const [messages, receipts] = await Promise.all(
    (['messages', 'webhook_receipts'] as const).map((table) =>
      app.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
    ),
  )
  return { messages: Number(messages!.n), jobs: (await causedJobs(app)).length, receipts: Number(receipts!.n) }
}

t.test('a signed text is stored, queued and answered with empty TwiML', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  const form = inboundForm(ctx, { Body: 'Hi there' })
  const res = await postSms(ctx, form)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/xml/)
  t.equal(res.body, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>')
  const stored = await ctx.app.store.db.selectFrom('messages').selectAll().execute()
  t.equal(stored.length, 1, 'stored before the answer')
  t.match(stored[0], {
    direction: 'inbound',
    twilio_sid: form.MessageSid,
    phone: '+14155550123',
    twilio_number: '+14155550100',
    body: 'Hi there',
    status: 'received',
  })
  const jobs = await causedJobs(ctx.app)
  t.match(jobs, [{ task: 'inbound.deliver', queue_key: 'phone:+14155550123', state: 'waiting' }], 'its delivery is queued with it')
  t.equal(ctx.intercom.requests.length, 0, 'nothing slow happened before the answer')
})

t.test('bad, missing or foreign signatures are refused and nothing is stored', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  const form = inboundForm(ctx)
  const cases: Array<[string, Promise<{ statusCode: number; json(): unknown }>]> = [
    ['missing', postSms(ctx, form, { signature: null })],
    ['wrong token', postSms(ctx, form, { signature: signTwilio('not-the-token', `${PUBLIC_URL}/twilio/sms`, form) })],
    [
      'internal URL (behind the proxy)',
      postSms(ctx, form, { signature: signTwilio(ctx.twilio.authToken, 'http://127.0.0.1:3000/twilio/sms', form) }),
    ],
    [
      'body changed after signing',
      postSms(ctx, { ...form, Body: 'changed' }, { signature: signTwilio(ctx.twilio.authToken, `${PUBLIC_URL}/twilio/sms`, form) }),
    ],
    ['another account', postSms(ctx, { ...form, AccountSid: `AC${'f'.repeat(32)}` })],
  ]
  for (const [name, pending] of cases) {
    const res = await pending
    t.equal(res.statusCode, 403, name)
  }
  t.same(await counts(ctx.app), { messages: 0, jobs: 0, receipts: 0 })
})

t.test('the signature covers the query string and new parameters Twilio may add', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  const form = { ...inboundForm(ctx), SomethingNew: 'added in 2027', MessagingServiceSid: `MG${'1'.repeat(32)}` }
  const res = await postSms(ctx, form, { path: '/twilio/sms?team=eu' })
  t.equal(res.statusCode, 200)
  const tampered = await postSms(
    ctx,
    { ...inboundForm(ctx) },
    { path: '/twilio/sms?team=eu', signature: signTwilio(ctx.twilio.authToken, `${PUBLIC_URL}/twilio/sms?team=us`, form) },
  )
  t.equal(tampered.statusCode, 403)
  t.equal((await counts(ctx.app)).messages, 1)
})

t.test('the same MessageSid twice: 200 both times, one effect', async (t) => {
  const ctx = await buildTestApp(t)
  const form = inboundForm(ctx, { Body: 'only once' })
  const [a, b] = await Promise.all([postSms(ctx, form), postSms(ctx, form)])
  t.equal(a.statusCode, 200)
  t.equal(b.statusCode, 200)
  await drain(ctx.app)
  t.equal((await postSms(ctx, form)).statusCode, 200, 'and again after it was delivered')
  await drain(ctx.app)
  t.same(await counts(ctx.app), { messages: 1, jobs: 0, receipts: 0 }, 'one message (its MessageSid is the receipt), its job done')
  t.equal(ctx.intercom.conversations.length, 1)
  t.equal(ctx.intercom.conversations[0]!.parts.length, 0, 'the text is the conversation source, posted once')
})

t.test('a signed but malformed form is a clear 400 and stores nothing', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  const { From: _from, ...noFrom } = inboundForm(ctx)
  const res = await postSms(ctx, noFrom)
  t.equal(res.statusCode, 400)
  t.match(res.json(), { error: { code: 'invalid_form', message: /From/ } })
  const badSid = await postSms(ctx, inboundForm(ctx, { MessageSid: 'SM123' }))
  t.equal(badSid.statusCode, 400)
  t.match(badSid.json(), { error: { message: /MessageSid/ } })
  t.same(await counts(ctx.app), { messages: 0, jobs: 0, receipts: 0 })
})

t.test('logs never carry the full phone number or the signature', async (t) => {
  const ctx = await buildTestApp(t)
  await postSms(ctx, inboundForm(ctx, { From: '+14155550177', Body: 'private' }))
  await drain(ctx.app)
  t.notMatch(ctx.logs.text, '+14155550177')
  t.notMatch(ctx.logs.text, '4155550177')
  t.notMatch(ctx.logs.text, ctx.twilio.authToken)
  t.notMatch(ctx.logs.text, ctx.intercom.token)
  t.notMatch(ctx.logs.text, 'private', 'message bodies are not logged either')
})

t.test(
  "webhooks signed with a shared key (Twilio's Webhooks API): accepted with its secret, during a rotation too; refused naming the scheme otherwise",
  async (t) => {
    const OLD = 'old-shared-key-0123456789'
    const NEW = 'new-shared-key-0123456789'
    const settings = 'key=KS00000000000000000000000000000001,algorithm=HMAC_SHA256'
    // Twilio's HMAC-SHA256 over the same string as ever (the URL, then each parameter by name).
    const signWithKey = (key: string, url: string, params: Record<string, string>) =>
      createHmac('sha256', key)
        .update(
          Object.keys(params)
            .sort()
            .reduce((acc, k) => acc + k + params[k], url),
        )
        .digest('base64')
    const post = (ctx: Awaited<ReturnType<typeof buildTestApp>>, key: string, body: string) => {
      const form = inboundForm(ctx, { Body: body })
      return ctx.app.inject({
        method: 'POST',
        url: '/twilio/sms',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signWithKey(key, `${PUBLIC_URL}/twilio/sms`, form),
          'x-twilio-webhooks-signature-settings': settings,
        },
        payload: new URLSearchParams(form).toString(),
      })
    }
    const rotating = await buildTestApp(t, { startWorker: false, env: { TWILIO_WEBHOOK_SHARED_KEYS: `${OLD}, ${NEW}` } })
    t.equal((await post(rotating, OLD, 'signed with the old key')).statusCode, 200)
    t.equal((await post(rotating, NEW, 'signed with the new key')).statusCode, 200)
    t.equal(
      (await postSms(rotating, inboundForm(rotating, { Body: 'signed with the auth token' }))).statusCode,
      200,
      'the auth token still signs what it signs',
    )
    t.equal((await post(rotating, 'a-key-we-never-had-0123', 'forged')).statusCode, 403)
    t.same(
      (await rotating.app.store.db.selectFrom('messages').select('body').orderBy('id').execute()).map((m) => m.body),
      ['signed with the old key', 'signed with the new key', 'signed with the auth token'],
    )
    t.match(
      rotating.logs.text,
      /X-Twilio-Signature does not match \(signed with a shared key\); likely cause: signed with a shared key that none of TWILIO_WEBHOOK_SHARED_KEYS matches/,
    )
    t.notMatch(rotating.logs.text, 'shared-key-0123456789', 'no secret in the log')

    const unset = await buildTestApp(t, { startWorker: false })
    t.equal((await post(unset, NEW, 'not configured')).statusCode, 403)
    t.match(unset.logs.text, /likely cause: Twilio signs these webhooks with a shared key .* but TWILIO_WEBHOOK_SHARED_KEYS is not set/)
  },
)
