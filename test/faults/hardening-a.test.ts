// Points 10 to 12 of the security issue, each played as an attack through the real app on loopback
// and each failing harmlessly now: a client-written address header does not reset a rate limit, a
// reply full of pictures costs no more than a text can carry, and an unsigned request cannot write
// the advice `sms-bridge doctor` prints. Point 3 (slow clients) has its own file.
import t from 'tap'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms } from '../helper.js'
import { runDoctor } from '../../server/ops/doctor.js'
import { INLINE_IMAGES_SCAN_CHARS, MAX_MEDIA_PER_TEXT, inlineImages } from '../../shared/text.js'

const OWNER = '+14155550123'
const ADMIN_TOKEN = 'admin-token-0123456789abcdef'

t.test('10. off fly.io, a client-written Fly-Client-IP does not reset a rate limit (default: the connection address)', async (t) => {
  const ctx = await buildTestApp(t)
  t.equal(ctx.config.clientIpHeader, null, 'no address header is believed unless configured')
  const get = (address: string) => ctx.app.inject({ method: 'GET', url: '/media/not-a-token', headers: { 'fly-client-ip': address } })
  // 300 a minute per client: each guess claims a fresh address, as a scanner would.
  for (let i = 0; i < 300; i++) await get(`203.0.113.${i % 250}`)
  t.equal((await get('198.51.100.1')).statusCode, 429, 'the limit follows the connection, whatever the header says')

  // Behind fly.io (fly.toml sets CLIENT_IP_HEADER), the header the proxy overwrites is the client.
  const behindFly = await buildTestApp(t, { env: { CLIENT_IP_HEADER: 'fly-client-ip' } })
  const viaFly = (address: string) =>
    behindFly.app.inject({ method: 'GET', url: '/media/not-a-token', headers: { 'fly-client-ip': address } })
  for (let i = 0; i < 300; i++) await viaFly('203.0.113.7')
  t.equal((await viaFly('203.0.113.7')).statusCode, 429)
  t.equal((await viaFly('203.0.113.8')).statusCode, 404, 'another client fly.io saw has its own budget')
})

t.test(
  '11. pictures in a reply: at most what a text carries, each once, in order, and only the start of a huge body is read',
  async (t) => {
    // 27,000 distinct pictures in 0.8 MB held the process for 6 s, and each became a line of a note.
    const many = Array.from({ length: 27_000 }, (_, i) => `<img src="https://e.co/${i}">`).join('')
    t.same(
      inlineImages(many),
      Array.from({ length: MAX_MEDIA_PER_TEXT }, (_, i) => `https://e.co/${i}`),
    )
    t.same(inlineImages(many, 3), ['https://e.co/0', 'https://e.co/1', 'https://e.co/2'])
    t.same(
      inlineImages(
        '<p><img src="https://e.co/a"><img src=" https://e.co/a "><img src="data:image/png;base64,AA"><img src="cid:x"><IMG SRC="HTTPS://e.co/b"></p>',
      ),
      ['https://e.co/a', 'HTTPS://e.co/b'],
    )
    // A repeated picture counts once, however often: the cap is on distinct ones.
    t.same(inlineImages(`${'<img src="https://e.co/same">'.repeat(2_000)}<img src="https://e.co/other">`), [
      'https://e.co/same',
      'https://e.co/other',
    ])
    const late = `<img src="https://e.co/early">${' '.repeat(INLINE_IMAGES_SCAN_CHARS)}<img src="https://e.co/late">`
    t.same(inlineImages(late), ['https://e.co/early'], 'a picture past the part that is read is not looked for')

    // Through the real app: the reply is texted with ten pictures; the note names the one too many.
    const ctx = await buildTestApp(t)
    await postSms(ctx, inboundForm(ctx, { From: OWNER, Body: 'send me the pictures' }))
    await drain(ctx.app)
    const conversation = ctx.intercom.conversations[0]!
    const part = ctx.intercom.addAdminReply(conversation.id, { body: `<p>Here</p>${many}` })
    const webhook = ctx.intercom.notification('conversation.admin.replied', conversation.id, [part])
    t.ok(JSON.stringify(webhook).length > 800_000, 'the reply is 0.8 MB')
    t.equal((await postIntercomWebhook(ctx, webhook)).statusCode, 200)
    await drain(ctx.app)
    const texts = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === OWNER)
    t.same(
      texts.map((m) => [m.body, m.num_media]),
      [['Here', String(MAX_MEDIA_PER_TEXT)]],
    )
    const notes = ctx.intercom.conversation(conversation.id)!.parts.filter((p) => p.part_type === 'note')
    t.equal(notes.length, 1)
    t.equal(notes[0]!.body?.match(/<li>/g)?.length, 1, 'one line for the pictures a text cannot carry, not one per picture')
    t.match(notes[0]!.body ?? '', /a text carries at most 10 files/)
  },
)

t.test('12. an unsigned request cannot write the advice doctor prints', async (t) => {
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN } })
  const serviceUrl = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const form = new URLSearchParams(inboundForm(ctx)).toString()
  const headers = { host: 'attacker.example', 'x-forwarded-host': 'attacker.example', 'content-type': 'application/x-www-form-urlencoded' }
  t.equal(
    (await ctx.app.inject({ method: 'POST', url: '/twilio/sms?to=https://attacker.example', headers, payload: form })).statusCode,
    403,
  )
  // A made-up signature reads as a mismatch, the refusal whose advice used to quote the Host; the
  // latest refusal's advice is the one doctor prints.
  t.equal(
    (
      await ctx.app.inject({
        method: 'POST',
        url: '/twilio/sms',
        headers: { ...headers, 'x-twilio-signature': 'bm90LWEtc2lnbmF0dXJl' },
        payload: form,
      })
    ).statusCode,
    403,
  )
  t.equal(
    (
      await ctx.app.inject({
        method: 'POST',
        url: '/intercom/webhooks',
        headers: { ...headers, 'content-type': 'application/json', 'x-hub-signature': 'sha1=00' },
        payload: '{}',
      })
    ).statusCode,
    401,
  )
  const report = (await runDoctor(ctx.config, ctx.app.store, ctx.app.clients, { now: Date.now(), serviceUrl }))
    .map((r) => r.line)
    .join('\n')
  t.match(report, /Twilio webhooks \(texts and delivery statuses\): 2 request\(s\) refused/)
  t.match(
    report,
    /likely cause: the webhook URL set on the number is not under PUBLIC_URL \(https:\/\/sms-bridge\.example\.com;/,
    'the advice names the configured URL',
  )
  t.notMatch(report, /attacker/i, 'nothing the request said reaches the advice')
})
