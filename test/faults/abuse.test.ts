// The security review's findings (issue 14), each reproduced as an attack through the real app on
// loopback, and each failing harmlessly now. A signature proves Intercom or Twilio relayed a request;
// it does not prove the visitor owns the number, or that the request is for our workspace.
import t from 'tap'
import { until } from '../support/wait.js'
import { buildTestApp, drain, inboundForm, postCanvas, postIntercomWebhook, postSms, PUBLIC_URL, type TestApp } from '../helper.js'

const OWNER = '+14155550123'
const ADMIN_TOKEN = 'admin-token-0123456789abcdef'

const outbound = (ctx: TestApp, to?: string) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && (!to || m.to === to))
const codeIn = (body: string) => /^(\d{6}) is your verification code/.exec(body)?.[1]

/** A Canvas Kit session as Intercom runs it: each submit carries the canvas it was clicked in. */
function canvasSession(ctx: TestApp, surface: 'inbox' | 'messenger', base: Record<string, unknown>) {
  let current: any = null
  const post = async (body: Record<string, unknown>) => {
    const res = await postCanvas(ctx, `/canvas/${surface}/${body.component_id ? 'submit' : 'initialize'}`, body)
    if (res.statusCode === 200) current = res.json().canvas
    return res
  }
  return {
    open: () => post(base),
    click: (component_id: string, input_values: Record<string, unknown> = {}) =>
      post({ ...base, component_id, input_values, current_canvas: current }),
    raw: post,
    text: () => (current?.content.components as Array<{ text?: string; label?: string }>).map((c) => c.text ?? c.label ?? '').join('\n'),
  }
}

async function ownerWhoTexted(ctx: TestApp) {
  await postSms(ctx, inboundForm(ctx, { From: OWNER, Body: 'my account' }))
  await drain(ctx.app)
  return { owner: ctx.intercom.contacts.find((c) => c.phone === OWNER)!, conversation: ctx.intercom.conversations[0]! }
}

function visitorOf(ctx: TestApp) {
  const visitor = ctx.intercom.addContact({ role: 'lead', name: 'Mallory' })
  const session = canvasSession(ctx, 'messenger', {
    workspace_id: 'abc123xy',
    user: { type: 'user', id: visitor.id },
    context: { location: 'home', locale: 'en' },
  })
  return { visitor, session }
}

t.test('1. a Messenger visitor cannot take over a number: linked, opted out, or merely typed', async (t) => {
  const ctx = await buildTestApp(t)
  const { owner } = await ownerWhoTexted(ctx)
  const { visitor, session } = visitorOf(ctx)
  await session.open()

  // The owner's number, linked to the owner: refused before any text, nothing moves (and the
  // visitor is told no more than for any refused number: messenger-abuse.test.ts).
  await session.click('subscribe', { phone: OWNER, consent: ['agree'] })
  t.match(session.text(), /We could not text that number/)
  t.equal(outbound(ctx).length, 0, 'not even a code is sent')
  const link = await ctx.app.store.db.selectFrom('phone_contacts').selectAll().where('phone', '=', OWNER).executeTakeFirstOrThrow()
  t.equal(link.intercom_contact_id, owner.id, "the number stays the owner's")

  // An opted-out number is never opted back in from a form: only START from the phone does that.
  await postSms(ctx, inboundForm(ctx, { From: '+14155550140', Body: 'STOP' }))
  await drain(ctx.app)
  await session.click('subscribe', { phone: '+14155550140', consent: ['agree'] })
  t.match(session.text(), /We could not text that number/)
  t.match(await ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', '+14155550140').executeTakeFirst(), {
    state: 'opted_out',
  })

  // A number nobody linked: a code is texted to it, and without that code nothing happens.
  const victim = '+14155550150'
  await session.click('subscribe', { phone: victim, consent: ['agree'] })
  t.match(session.text(), /We texted a 6-digit code/)
  const code = codeIn(outbound(ctx, victim)[0]!.body)!
  for (let i = 0; i < 5; i++) await session.click('verify', { code: String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0') })
  t.match(session.text(), /Too many wrong codes/)
  await session.click('verify', { code })
  t.match(session.text(), /Too many wrong codes/, 'after five wrong tries the right code no longer works')
  t.equal(visitor.phone, null)
  t.equal(await ctx.app.store.db.selectFrom('phone_contacts').selectAll().where('phone', '=', victim).executeTakeFirst(), undefined)
  t.equal(await ctx.app.store.db.selectFrom('consent').selectAll().where('phone', '=', victim).executeTakeFirst(), undefined)

  // A code past its ten minutes is refused (its expiry moved, not waited for).
  await session.click('subscribe', { phone: '+14155550151', consent: ['agree'] })
  const late = codeIn(outbound(ctx, '+14155550151')[0]!.body)!
  await ctx.app.store.transaction((trx) =>
    trx
      .updateTable('phone_verifications')
      .set({ expires_at: Date.now() - 1 })
      .where('phone', '=', '+14155550151')
      .execute(),
  )
  await session.click('verify', { code: late })
  t.match(session.text(), /expired/)

  // Resends: not within a minute, at most three codes.
  await session.click('subscribe', { phone: '+14155550152', consent: ['agree'] })
  await session.click('resend')
  t.match(session.text(), /Wait a minute/)
  for (let i = 0; i < 3; i++) {
    await ctx.app.store.transaction((trx) =>
      trx
        .updateTable('phone_verifications')
        .set({ last_sent_at: Date.now() - 61_000 })
        .where('phone', '=', '+14155550152')
        .execute(),
    )
    await session.click('resend')
  }
  t.match(session.text(), /No more codes/)
  t.equal(outbound(ctx, '+14155550152').length, 3, 'three codes in all')
})

t.test('2. SMS pumping: outsider-caused texts are capped per number, contact and day, and by country; replies never', async (t) => {
  const ctx = await buildTestApp(t, { env: { ADMIN_TOKEN, CAP_CODES_PER_DAY: '6', WELCOME_SMS_TEMPLATE: 'Welcome!' } })
  const { session } = visitorOf(ctx)
  await session.open()
  // Abroad: our numbers are American, so a code to a premium-rate-prone destination is refused.
  await session.click('subscribe', { phone: '+447911123456', consent: ['agree'] })
  t.match(session.text(), /We could not text that number/)
  t.equal(outbound(ctx).length, 0)

  // One number: three codes a day.
  for (let i = 0; i < 4; i++) await session.click('subscribe', { phone: '+14155550160', consent: ['agree'] })
  t.equal(outbound(ctx, '+14155550160').length, 3)
  t.match(session.text(), /We could not text that number/)

  // One contact: five a day, whatever the numbers.
  for (const n of ['+14155550161', '+14155550162', '+14155550163']) await session.click('subscribe', { phone: n, consent: ['agree'] })
  t.equal(outbound(ctx).length, 5, 'the fourth number went over the contact cap')

  // All together: CAP_CODES_PER_DAY (6 here) across visitors.
  const others = [visitorOf(ctx), visitorOf(ctx)]
  for (const [i, o] of others.entries()) {
    await o.session.open()
    await o.session.click('subscribe', { phone: `+1415555017${i}`, consent: ['agree'] })
  }
  t.equal(outbound(ctx).length, 6, "the codes' day cap holds across contacts")

  // Welcomes are outsider-caused too: a contact created with a foreign number gets none (+44 7911 12... is Guernsey's).
  const abroad = ctx.intercom.addContact({ role: 'user', external_id: 'crm-abroad', phone: '+447911123457' })
  await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', abroad.id))
  await drain(ctx.app)
  t.match(
    await ctx.app.store.db.selectFrom('automated_sends').selectAll().where('intercom_contact_id', '=', abroad.id).executeTakeFirst(),
    { status: 'skipped', reason: 'Automated texts to Guernsey (GG) are not allowed (SMS_ALLOWED_COUNTRIES: United States (US)).' },
  )

  // Teammates' replies are never capped.
  const { conversation } = await ownerWhoTexted(ctx)
  for (let i = 0; i < 8; i++) {
    await postIntercomWebhook(
      ctx,
      ctx.intercom.notification('conversation.admin.replied', conversation.id, [
        ctx.intercom.addAdminReply(conversation.id, { body: `<p>reply ${i}</p>` }),
      ]),
    )
  }
  await drain(ctx.app)
  t.equal(outbound(ctx, OWNER).length, 8)

  const metrics = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.match(metrics.body, /bridge_outsider_texts_refused_total\{kind="verification",reason="country_not_allowed"\} 1/)
  t.match(metrics.body, /bridge_outsider_texts_refused_total\{kind="verification",reason="number_cap"\} 1/)
  t.match(metrics.body, /bridge_outsider_texts_refused_total\{kind="verification",reason="contact_cap"\} 1/)
  t.match(ctx.logs.text, /"reason":"number_cap".*SMS pumping protection/)
  t.notMatch(ctx.logs.text, '+14155550160', 'the number is masked in that line')
})

t.test("3. the sidebar: other workspaces refused, only the contact's own texts, no silent move of a number", async (t) => {
  const ctx = await buildTestApp(t)
  const { owner, conversation } = await ownerWhoTexted(ctx)
  const foreign = canvasSession(ctx, 'inbox', {
    workspace_id: 'zzz999',
    admin: { id: '1' },
    contact: { id: owner.id },
    conversation: { id: conversation.id },
  })
  const res = await foreign.open()
  t.equal(res.statusCode, 403, 'signed for our app, but from another workspace')
  t.notMatch(res.body, 'my account', 'and nothing of our data in the answer')

  // A lead who set the owner's number on their own record sees none of the owner's texts.
  const lead = ctx.intercom.addContact({ role: 'lead', phone: OWNER })
  const nosy = canvasSession(ctx, 'inbox', {
    workspace_id: 'abc123xy',
    admin: { id: ctx.intercom.admin.id, name: 'Sam' },
    contact: { id: lead.id, phone: OWNER },
    conversation: null,
  })
  await nosy.open()
  t.notMatch(nosy.text(), 'my account')
  t.match(nosy.text(), 'No texts with this contact yet.')

  // Saving a number linked to another contact says so; moving it is a teammate's explicit choice.
  const other = ctx.intercom.addContact({ role: 'user', email: 'x@example.com' })
  const panel = canvasSession(ctx, 'inbox', {
    workspace_id: 'abc123xy',
    admin: { id: ctx.intercom.admin.id, name: 'Sam' },
    contact: { id: other.id },
    conversation: { id: conversation.id },
  })
  await panel.open()
  await panel.click('save_phone', { phone_input: OWNER })
  t.match(panel.text(), /linked to another contact .* Link it to this contact instead\?/)
  t.equal(
    (await ctx.app.store.db.selectFrom('phone_contacts').selectAll().where('phone', '=', OWNER).executeTakeFirstOrThrow())
      .intercom_contact_id,
    owner.id,
    'not moved',
  )
  await panel.click('save_phone_anyway')
  await drain(ctx.app)
  t.equal(
    (await ctx.app.store.db.selectFrom('phone_contacts').selectAll().where('phone', '=', OWNER).executeTakeFirstOrThrow())
      .intercom_contact_id,
    other.id,
    'moved when chosen',
  )
  t.match(
    ctx.intercom
      .conversation(conversation.id)!
      .parts.filter((p) => p.part_type === 'note')
      .at(-1)?.body,
    /Sam moved \+1 415 555 0123 to this contact/,
  )
})

t.test('3b. without INTERCOM_WORKSPACE_ID the workspace is asked of Intercom once, then cached', async (t) => {
  const ctx = await buildTestApp(t, { env: { INTERCOM_WORKSPACE_ID: '' } })
  const cached = async () =>
    (await ctx.app.store.db.selectFrom('settings_cache').select('value').where('key', '=', 'intercom.workspace_id').executeTakeFirst())
      ?.value
  // The start asks (so the first sidebar opens fast).
  await until(async () => (await cached()) !== undefined, 'the start to learn the workspace id')
  t.equal(await cached(), 'abc123xy')
  const { owner, conversation } = await ownerWhoTexted(ctx)
  const panel = canvasSession(ctx, 'inbox', {
    workspace_id: 'abc123xy',
    admin: { id: '1' },
    contact: { id: owner.id },
    conversation: { id: conversation.id },
  })
  const me = () => ctx.intercom.requests.filter((r) => r.path === '/me').length
  let before = me()
  for (let i = 0; i < 3; i++) t.equal((await panel.open()).statusCode, 200)
  t.equal(me() - before, 0, 'then cached: no GET /me for three requests')
  // Forgotten (a database restored from before): requests arriving together share one question.
  await ctx.app.store.transaction((trx) => trx.deleteFrom('settings_cache').where('key', '=', 'intercom.workspace_id').execute())
  before = me()
  const opened = await Promise.all([panel.open(), panel.open(), panel.open()])
  t.same(
    opened.map((r) => r.statusCode),
    [200, 200, 200],
  )
  t.equal(me() - before, 1, 'one GET /me for three requests at once')
})

t.test('4. a spoofed X-Forwarded-For does not reset a rate limit', async (t) => {
  // Behind fly.io's proxy, as fly.toml sets it up: Fly-Client-IP is the address the proxy saw.
  const ctx = await buildTestApp(t, { env: { CLIENT_IP_HEADER: 'fly-client-ip' } })
  const get = (headers: Record<string, string>) => ctx.app.inject({ method: 'GET', url: '/media/not-a-token', headers })
  for (let i = 0; i < 300; i++) await get({ 'fly-client-ip': '203.0.113.7', 'x-forwarded-for': `198.51.100.${i % 250}` })
  const spoofed = await get({ 'fly-client-ip': '203.0.113.7', 'x-forwarded-for': '198.51.100.99' })
  t.equal(spoofed.statusCode, 429, 'the limit follows the address fly.io saw')
  t.equal((await get({ 'fly-client-ip': '203.0.113.8' })).statusCode, 404, 'another client has its own budget')
})

t.test('5. an oversized or many-field form is refused before it is parsed or its signature checked', async (t) => {
  const ctx = await buildTestApp(t)
  const huge = Array.from({ length: 44_000 }, (_, i) => `f${i}=x`).join('&')
  const many = Array.from({ length: 400 }, (_, i) => `f${i}=x`).join('&')
  for (const [name, body] of [
    ['256 KB, 44,000 fields', huge],
    ['400 fields, 3 KB', many],
  ] as const) {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/twilio/sms',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'x' },
      payload: body,
    })
    t.equal(res.statusCode, 413, name)
  }
  t.match(
    (
      await ctx.app.inject({
        method: 'POST',
        url: '/twilio/sms',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'x' },
        payload: many,
      })
    ).json(),
    { error: { code: 'too_many_fields' } },
  )
  t.equal((await ctx.app.store.db.selectFrom('messages').selectAll().execute()).length, 0)
  // A real text, with a full set of parameters and ten pictures, still fits.
  const form = inboundForm(ctx, { NumMedia: '10' })
  for (let i = 0; i < 10; i++)
    Object.assign(form, {
      [`MediaUrl${i}`]: `${ctx.twilio.url}/2010-04-01/Accounts/${ctx.twilio.accountSid}/Messages/MM${'0'.repeat(32)}/Media/ME${String(i).padStart(32, '0')}`,
      [`MediaContentType${i}`]: 'image/jpeg',
    })
  t.equal((await postSms(ctx, form)).statusCode, 200)
})

t.test("6. a teammate's 100 KB reply of spaces is texted as its words", async (t) => {
  const ctx = await buildTestApp(t)
  const { conversation } = await ownerWhoTexted(ctx)
  const part = ctx.intercom.addAdminReply(conversation.id, { body: `<p>${' '.repeat(100_000)}thanks${' \t'.repeat(20_000)}</p>` })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversation.id, [part]))
  await drain(ctx.app)
  t.same(
    outbound(ctx, OWNER).map((m) => m.body),
    ['thanks'],
  )
})

t.test('7. a replayed canvas submit has no second effect', async (t) => {
  const ctx = await buildTestApp(t)
  const { owner, conversation } = await ownerWhoTexted(ctx)
  const body = {
    workspace_id: 'abc123xy',
    admin: { id: ctx.intercom.admin.id },
    contact: { id: owner.id },
    conversation: { id: conversation.id },
  }
  const panel = canvasSession(ctx, 'inbox', body)
  const opened = (await panel.open()).json().canvas
  const click = { ...body, component_id: 'send_sms', input_values: { sms_body: 'once only' }, current_canvas: opened }
  // The same signed request, byte for byte, four times.
  for (let i = 0; i < 4; i++) t.equal((await panel.raw(click)).statusCode, 200)
  await drain(ctx.app)
  t.same(
    outbound(ctx, OWNER).map((m) => m.body),
    ['once only'],
  )
  // A submit with no canvas of ours behind it (forged, or from before this version) does nothing either.
  await panel.raw({ ...click, current_canvas: { content: { components: [] } } })
  await drain(ctx.app)
  t.equal(outbound(ctx, OWNER).length, 1)
})

t.test('8. the media proxy serves only what MMS carries, never as a page, and no more than MMS carries', async (t) => {
  const ctx = await buildTestApp(t)
  const html = Buffer.from('<script>document.cookie</script>')
  const sent = ctx.twilio.addInboundMessage({
    from: OWNER,
    to: '+14155550100',
    body: 'look',
    media: [
      { contentType: 'text/html', data: html },
      { contentType: 'image/png', data: Buffer.from('png') },
      { contentType: 'application/pdf', data: Buffer.from('%PDF') },
      { contentType: 'image/jpeg', data: Buffer.alloc(6 * 1024 * 1024) },
    ],
  })
  const form = inboundForm(ctx, { MessageSid: sent.sid, NumMedia: '4', Body: 'look' })
  sent.media.forEach((m, i) =>
    Object.assign(form, { [`MediaUrl${i}`]: ctx.twilio.mediaUrl(sent, i), [`MediaContentType${i}`]: m.contentType }),
  )
  await postSms(ctx, form)
  await drain(ctx.app)
  const links = ctx.intercom.conversations[0]!.source.attachments.length
    ? ctx.intercom.conversations[0]!.source.attachments
    : ctx.intercom.conversations[0]!.parts.flatMap((p) => p.attachments)
  const [page, picture, pdf, big] = await Promise.all(
    links.map((a) => ctx.app.inject({ method: 'GET', url: a.url.slice(PUBLIC_URL.length) })),
  )
  t.equal(page!.statusCode, 415, 'HTML is not served from our domain')
  t.notMatch(page!.body, 'script')
  t.equal(picture!.statusCode, 200)
  t.match(picture!.headers, {
    'content-type': 'image/png',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
  })
  t.match(picture!.headers['content-disposition'], /^inline/)
  t.match(pdf!.headers['content-disposition'], /^attachment; filename="/)
  t.equal(big!.statusCode, 502, 'over 5 MB is not relayed')
})

t.test('9. numbers inside upstream errors, and tokens in query strings, never reach the logs', async (t) => {
  const ctx = await buildTestApp(t)
  const { conversation } = await ownerWhoTexted(ctx)
  // Retried, so the worker logs the error, whose message quotes the number.
  ctx.twilio.failNext({
    status: 500,
    body: { code: 20500, message: `Internal error sending to ${OWNER}`, status: 500 },
    match: { method: 'POST', path: /Messages\.json$/ },
  })
  await postIntercomWebhook(
    ctx,
    ctx.intercom.notification('conversation.admin.replied', conversation.id, [ctx.intercom.addAdminReply(conversation.id, { body: 'hi' })]),
  )
  await drain(ctx.app)
  await ctx.app.inject({
    method: 'POST',
    url: '/twilio/sms?token=s3cr3t-t0ken&sig=abc',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'a=b',
  })
  t.match(ctx.logs.text, /\+\*{7}0123/, 'the number appears masked')
  t.notMatch(ctx.logs.text, OWNER)
  t.notMatch(ctx.logs.text, '4155550123')
  t.notMatch(ctx.logs.text, 's3cr3t-t0ken')
  t.match(ctx.logs.text, /token=\[redacted\]/)
})

t.test('10. Series template names that are object properties, non-numeric job ids, NUL characters', async (t) => {
  const ctx = await buildTestApp(t, {
    env: { ADMIN_TOKEN, SERIES_WEBHOOK_SECRET: 'series-secret-0123456789', SMS_TEMPLATES: JSON.stringify({ renewal: 'Hi' }) },
  })
  const contact = ctx.intercom.addContact({ role: 'user', email: 'a@example.com', phone: OWNER })
  for (const template of ['__proto__', 'toString', 'constructor', 'hasOwnProperty']) {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/intercom/series',
      headers: { 'x-bridge-secret': 'series-secret-0123456789' },
      payload: { contact_id: contact.id, step_id: `s-${template}`, template },
    })
    t.equal(res.statusCode, 400, template)
    t.match(res.json(), { error: { field: 'template', message: /unknown template/ } })
  }
  const nul = await ctx.app.inject({
    method: 'POST',
    url: '/intercom/series',
    headers: { 'x-bridge-secret': 'series-secret-0123456789' },
    payload: { contact_id: contact.id, step_id: 'n', message: 'before\u0000after' },
  })
  t.equal(nul.statusCode, 400)
  t.equal((await ctx.app.store.db.selectFrom('automated_sends').selectAll().execute()).length, 0, 'nothing stored')
  for (const id of ['abc', '1e3', '-1', '0x10', '99999999999999999999']) {
    const res = await ctx.app.inject({
      method: 'POST',
      url: `/admin/jobs/${id}/retry`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    t.equal(res.statusCode, 400, `job id ${id}`)
  }
  const text = await postSms(ctx, inboundForm(ctx, { Body: 'cut\u0000here' }))
  t.equal(text.statusCode, 400, 'a NUL in a text is refused at the edge')
  t.equal((await ctx.app.store.db.selectFrom('messages').selectAll().execute()).length, 0)
})

t.test('11. a customer text with markup reaches the inbox as text', async (t) => {
  const ctx = await buildTestApp(t)
  await postSms(ctx, inboundForm(ctx, { From: OWNER, Body: '<a href="https://evil.example">reset password</a> <img src=x> 👋 你好' }))
  await drain(ctx.app)
  t.equal(
    ctx.intercom.conversations[0]!.source.body,
    '&lt;a href=&quot;https://evil.example&quot;&gt;reset password&lt;/a&gt; &lt;img src=x&gt; 👋 你好',
  )
})
