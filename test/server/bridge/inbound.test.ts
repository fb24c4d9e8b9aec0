import t from 'tap'
import { textOf } from '../../../shared/text.js'
import { catchUp, scheduleCatchUp } from '../../../server/bridge/catchup.js'
import { chooseContact, MARK_ATTRIBUTE, phoneMark } from '../../../server/bridge/trust.js'
import { mediaToken, mediaUrls } from '../../../server/bridge/media-links.js'
import { buildTestApp, causedJobs, drain, inboundForm, OUR_NUMBER, postIntercomWebhook, postSms, type TestApp } from '../../helper.js'

const CUSTOMER = '+14155550123'

async function text(ctx: TestApp, body: string, fields: Record<string, string> = {}) {
  const res = await postSms(ctx, inboundForm(ctx, { Body: body, From: CUSTOMER, ...fields }))
  if (res.statusCode !== 200) throw new Error(`webhook answered ${res.statusCode}: ${res.body}`)
}

/** What the agent sees: the conversation's texts in order, source first. */
function thread(ctx: TestApp, conversationId: string) {
  const c = ctx.intercom.conversation(conversationId)!
  return [c.source.body, ...c.parts.filter((p) => p.part_type === 'comment').map((p) => p.body)]
}

t.test('a first text creates one lead with the E.164 phone and one tagged conversation', async (t) => {
  const ctx = await buildTestApp(t, { env: { DEFAULT_COUNTRY: 'US' } })
  await text(ctx, 'Hi, is my order shipped?', { From: '(415) 555-0123' })
  await drain(ctx.app)
  t.equal(ctx.intercom.contacts.length, 1)
  t.match(ctx.intercom.contacts[0], { role: 'lead', phone: CUSTOMER })
  t.equal(ctx.intercom.conversations.length, 1)
  const conversation = ctx.intercom.conversations[0]!
  t.equal(conversation.source.body, 'Hi, is my order shipped?')
  t.equal(conversation.source.author.id, ctx.intercom.contacts[0]!.id)
  t.same(
    conversation.tags.map((x) => x.name),
    ['sms'],
    'tagged for routing',
  )
  const [message] = await ctx.app.store.db.selectFrom('messages').selectAll().execute()
  t.match(message, {
    status: 'delivered_to_intercom',
    intercom_conversation_id: conversation.id,
    intercom_contact_id: ctx.intercom.contacts[0]!.id,
    twilio_number: OUR_NUMBER,
  })
  const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.match(
    link,
    { intercom_conversation_id: conversation.id, phone: CUSTOMER, twilio_number: OUR_NUMBER },
    'replies will go out from the number they texted',
  )
})

t.test('later texts are customer replies in the same conversation, one Intercom call each', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'first')
  await drain(ctx.app)
  const before = ctx.intercom.requests.length
  await text(ctx, 'second')
  await drain(ctx.app)
  const calls = ctx.intercom.callsSince(before)
  t.same(
    calls.map((r) => `${r.method} ${r.path.replace(/\d+/, ':id')}`),
    ['POST /conversations/:id/reply'],
    'exactly one call for a known contact',
  )
  t.match(calls[0]?.body, { message_type: 'comment', type: 'user', intercom_user_id: ctx.intercom.contacts[0]!.id, body: 'second' })
  t.equal(ctx.intercom.conversations.length, 1)
  t.same(thread(ctx, ctx.intercom.conversations[0]!.id), ['first', 'second'])
})

t.test('an existing user is found by any stored form of the number; a lead claiming it is not', async (t) => {
  const ctx = await buildTestApp(t)
  const lead = ctx.intercom.addContact({ role: 'lead', phone: '+14155550123', updated_at: 2_000_000_000 })
  const user = ctx.intercom.addContact({ role: 'user', phone: '(415) 555-0123', email: 'ana@example.com', updated_at: 1_000_000_000 })
  ctx.intercom.addContact({ role: 'user', phone: '+14155550999', email: 'someone-else@example.com' })
  await text(ctx, 'hello')
  await drain(ctx.app)
  t.equal(ctx.intercom.contacts.length, 3, 'no contact created')
  t.equal(ctx.intercom.conversations[0]?.source.author.id, user.id, 'the user, not the more recently updated lead')
  t.equal(ctx.intercom.conversations[0]?.source.author.type, 'user')
  t.not(user.id, lead.id)
})

t.test("the documented rule: the bridge's mark, then a user; a lead's own phone never", async (t) => {
  const config = { intercom: { clientSecret: 'secret' }, matchUsersByPhone: true, defaultCountry: undefined } as never
  const phone = '+14155550123'
  const c = (id: string, role: 'user' | 'lead', updated_at: number, extra: Record<string, unknown> = {}) =>
    ({ id, role, updated_at, created_at: 1, phone, name: `n-${id}`, custom_attributes: {}, ...extra }) as never
  const marked = (id: string, role: 'user' | 'lead', updated_at: number, markFor = id) =>
    c(id, role, updated_at, { custom_attributes: { [MARK_ATTRIBUTE]: phoneMark(config, markFor, phone) } })
  const pick = (found: never[], cfg = config) => {
    const choice = chooseContact(cfg, found, phone)
    return choice.contact ? `${choice.contact.id}:${choice.source}` : `new lead; others ${choice.others.map((o) => o.id).join(',')}`
  }
  t.equal(pick([c('a', 'lead', 9), c('b', 'lead', 1)]), 'new lead; others a,b', 'leads never decide, however recently updated')
  t.equal(pick([c('a', 'lead', 9), c('b', 'user', 1)]), 'b:user', "a user is the team's data")
  t.equal(pick([c('a', 'user', 1), c('b', 'user', 5)]), 'b:user', 'then the most recently updated')
  t.equal(pick([c('a', 'user', 9), marked('b', 'lead', 1)]), 'b:marked', "the bridge's own mark first: its texts thread there")
  t.equal(
    pick([marked('a', 'lead', 9, 'b'), c('b', 'lead', 1)]),
    'new lead; others a,b',
    'a mark copied from another contact proves nothing',
  )
  t.equal(pick([c('a', 'lead', 9, { custom_attributes: { [MARK_ATTRIBUTE]: 'v1.forged' } })]), 'new lead; others a')
  t.equal(pick([c('a', 'user', 9, { phone: '+14155550999' })]), 'new lead; others a', 'a user whose own phone is another number')
  t.equal(
    pick([c('a', 'user', 1)], { ...(config as object), matchUsersByPhone: false } as never),
    'new lead; others a',
    'MATCH_USERS_BY_PHONE=false: users do not count either',
  )
  t.equal(pick([]), 'new lead; others ')
})

t.test('the text appears exactly as sent: every script and emoji intact, markup shown as text, never rendered', async (t) => {
  const ctx = await buildTestApp(t)
  const bodies = [
    'Привет, 你好 👋🏽 — ça va?',
    '<script>alert(1)</script> & <b>bold</b>',
    '<a href="https://evil.example">click</a><img src=x onerror=alert(1)>',
    'line one\nline two',
  ]
  for (const body of bodies) await text(ctx, body)
  await drain(ctx.app)
  const posted = thread(ctx, ctx.intercom.conversations[0]!.id)
  t.same(
    posted,
    [
      'Привет, 你好 👋🏽 — ça va?',
      '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;',
      '&lt;a href=&quot;https://evil.example&quot;&gt;click&lt;/a&gt;&lt;img src=x onerror=alert(1)&gt;',
      'line one\nline two',
    ],
    'escaped, so Intercom cannot render a link or an image from a text',
  )
  // What the inbox shows once it reads the HTML: the characters the customer typed.
  t.same(
    posted.map((b) => textOf(b)),
    bodies,
  )
})

t.test('threading: reopen within the window, a new tagged conversation after it', async (t) => {
  const ctx = await buildTestApp(t, { env: { REOPEN_WINDOW_DAYS: '5' } })
  await text(ctx, 'first')
  await drain(ctx.app)
  const first = ctx.intercom.conversations[0]!
  ctx.intercom.closeConversation(first.id)
  await ctx.app.store.transaction((trx) =>
    trx
      .updateTable('sms_conversations')
      .set({ closed_at: Date.now() - 2 * 86_400_000 })
      .execute(),
  )
  await text(ctx, 'two days later')
  await drain(ctx.app)
  t.equal(ctx.intercom.conversations.length, 1, 'same conversation')
  t.equal(first.state, 'open', 'the customer reply reopened it for the team')
  t.same(thread(ctx, first.id), ['first', 'two days later'])

  ctx.intercom.closeConversation(first.id)
  await ctx.app.store.transaction((trx) =>
    trx
      .updateTable('sms_conversations')
      .set({ closed_at: Date.now() - 6 * 86_400_000 })
      .execute(),
  )
  await text(ctx, 'a week later')
  await drain(ctx.app)
  t.equal(ctx.intercom.conversations.length, 2, 'a new conversation')
  const second = ctx.intercom.conversations[1]!
  t.same(thread(ctx, second.id), ['a week later'])
  t.same(
    second.tags.map((x) => x.name),
    ['sms'],
  )
  t.equal(first.state, 'closed', 'the old one stays closed')
  const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.equal(link.intercom_conversation_id, second.id, 'and becomes the SMS conversation')
  t.equal(link.closed_at, null)
  t.equal(ctx.intercom.tags.length, 1, 'the tag was created once')
  t.equal(ctx.intercom.requests.filter((r) => r.path === '/tags').length, 1, 'and its id cached after the first lookup')
})

t.test('a 409 naming an existing contact means that contact is reused', async (t) => {
  const ctx = await buildTestApp(t)
  const existing = ctx.intercom.addContact({ role: 'lead', phone: null, name: 'Imported' })
  ctx.intercom.failNext({
    status: 409,
    match: { method: 'POST', path: /^\/contacts$/ },
    body: {
      type: 'error.list',
      errors: [{ code: 'conflict', message: `A contact matching those details already exists with id=${existing.id}` }],
    },
  })
  await text(ctx, 'hello')
  await drain(ctx.app)
  t.equal(ctx.intercom.contacts.length, 1, 'no second contact')
  t.equal(ctx.intercom.conversations[0]?.source.author.id, existing.id)
  const link = await ctx.app.store.db.selectFrom('phone_contacts').selectAll().executeTakeFirstOrThrow()
  t.equal(link.intercom_contact_id, existing.id, 'and remembered')
})

t.test('a conversation deleted in Intercom is replaced, not retried forever', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'first')
  await drain(ctx.app)
  ctx.intercom.conversations.splice(0, 1)
  await text(ctx, 'second')
  await drain(ctx.app)
  t.equal(ctx.intercom.conversations.length, 1)
  t.same(thread(ctx, ctx.intercom.conversations[0]!.id), ['second'])
})

/** The token of a media link (the segment after /media/). */
function path0(url: string): string {
  return new URL(url).pathname.split('/')[2]!
}

t.test('at most ten attachments per part, as Intercom allows', async (t) => {
  const urls = mediaUrls({ publicUrl: 'https://x.example', twilio: { authToken: 't' } } as never, {
    id: 7,
    created_at: Date.now(),
    media: Array.from({ length: 12 }, (_, i) => ({ url: `https://api.twilio.com/m${i}`, contentType: 'image/png' })),
  })
  t.equal(urls.length, 10)
  t.equal(new Set(urls).size, 10, 'each item its own link')
})

t.test('MMS: pictures arrive as attachments served through expiring bridge links', async (t) => {
  const ctx = await buildTestApp(t)
  const sent = ctx.twilio.addInboundMessage({
    from: CUSTOMER,
    to: OUR_NUMBER,
    body: 'look',
    media: [
      { contentType: 'image/jpeg', data: Buffer.from('jpeg-bytes') },
      { contentType: 'image/png', data: Buffer.from('png-bytes') },
    ],
  })
  const form = inboundForm(ctx, {
    MessageSid: sent.sid,
    Body: 'look',
    NumMedia: '2',
    MediaUrl0: ctx.twilio.mediaUrl(sent, 0),
    MediaContentType0: 'image/jpeg',
    MediaUrl1: ctx.twilio.mediaUrl(sent, 1),
    MediaContentType1: 'image/png',
  })
  t.equal((await postSms(ctx, form)).statusCode, 200)
  await text(ctx, 'and one more', { NumMedia: '1', MediaUrl0: ctx.twilio.mediaUrl(sent, 1), MediaContentType0: 'image/png', Body: '' })
  await drain(ctx.app)
  const conversation = ctx.intercom.conversations[0]!
  t.equal(conversation.source.body, 'look')
  t.same(
    conversation.source.attachments.map((a) => [a.name, a.content_type]),
    [
      ['picture-1.jpg', 'image/jpeg'],
      ['picture-2.png', 'image/png'],
    ],
    'the text and its pictures open the conversation as one part, each picture named with its type',
  )
  const later = conversation.parts.filter((p) => p.part_type === 'comment' && p.author.type !== 'admin')
  t.equal(later.length, 1, "no separate part for the first text's pictures")
  t.equal(later[0]!.body, '(sent an attachment)', 'a picture-only text says so')
  t.same(
    later[0]!.attachments.map((a) => a.name),
    ['picture-1.png'],
  )
  const urls = [...conversation.source.attachments, ...later[0]!.attachments].map((a) => a.url)
  t.equal(urls.length, 3)
  for (const url of urls) {
    t.match(url, /^https:\/\/sms-bridge\.example\.com\/media\/[\w.-]+\/picture-\d\.(jpg|png)$/, 'a bridge link ending in a file name')
    t.notMatch(url, ctx.twilio.accountSid, 'no Twilio account in the link')
  }

  const first = await ctx.app.inject({ method: 'GET', url: new URL(urls[0]!).pathname })
  t.equal(first.statusCode, 200)
  t.equal(first.headers['content-type'], 'image/jpeg')
  t.equal(first.body, 'jpeg-bytes')
  const second = await ctx.app.inject({ method: 'GET', url: new URL(urls[1]!).pathname })
  t.equal(second.headers['content-type'], 'image/png')
  t.equal(second.body, 'png-bytes')

  const expired = mediaToken(ctx.config, Number(path0(urls[0]!).split('.')[0]), 0, Date.now() - 1_000)
  t.equal((await ctx.app.inject({ method: 'GET', url: `/media/${expired}` })).statusCode, 404, 'an expired link serves nothing')

  const unnamed = await ctx.app.inject({ method: 'GET', url: `/media/${path0(urls[0]!)}` })
  t.equal(unnamed.body, 'jpeg-bytes', 'a link without the name, as links were before, still serves')
  const renamed = await ctx.app.inject({ method: 'GET', url: `/media/${path0(urls[0]!)}/anything.exe` })
  t.equal(renamed.headers['content-type'], 'image/jpeg', 'the name never decides the type served')
  const path = `/media/${path0(urls[0]!)}`
  const forged = path.replace(/\.(\d+)\.([\w-]+)$/, (_m, exp, sig) => `.${Number(exp) + 1}.${sig}`)
  for (const bad of [forged, '/media/1.0.99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '/media/nope']) {
    const res = await ctx.app.inject({ method: 'GET', url: bad })
    t.equal(res.statusCode, 404, `refused: ${bad.slice(0, 30)}`)
  }
})

t.test('STOP: consent recorded, the Intercom contact marked, the text threaded, a note explains it', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'hello')
  // "Yes" answering a teammate's question, from a number that never opted out: nothing changes.
  await text(ctx, 'YES')
  await drain(ctx.app)
  t.equal(await ctx.app.store.db.selectFrom('consent').selectAll().executeTakeFirst(), undefined, 'no consent written')
  t.equal(ctx.intercom.conversations[0]!.parts.filter((p) => p.part_type === 'note').length, 0, 'no "opted back in" note')
  t.equal(ctx.intercom.contacts[0]!.custom_attributes.sms_opted_out, undefined, 'the contact is left alone')
  await text(ctx, ' stop ')
  await drain(ctx.app)
  const consent = await ctx.app.store.db.selectFrom('consent').selectAll().executeTakeFirstOrThrow()
  t.match(consent, { phone: CUSTOMER, state: 'opted_out', source: 'keyword' })
  const contact = ctx.intercom.contacts[0]!
  t.equal(contact.custom_attributes.sms_opted_out, true)
  t.ok(
    ctx.intercom.dataAttributes.some((a) => a.name === 'sms_opted_out' && a.data_type === 'boolean'),
    'the attribute was created',
  )
  const conversation = ctx.intercom.conversations[0]!
  t.same(thread(ctx, conversation.id), ['hello', 'YES', ' stop '])
  const notes = conversation.parts.filter((p) => p.part_type === 'note')
  t.equal(notes.length, 1)
  t.match(notes[0]?.body, /opted out of text messages/)

  await text(ctx, 'Start')
  await drain(ctx.app)
  t.equal((await ctx.app.store.db.selectFrom('consent').select('state').executeTakeFirstOrThrow()).state, 'opted_in')
  t.equal(contact.custom_attributes.sms_opted_out, false)
  t.match(conversation.parts.filter((p) => p.part_type === 'note').at(-1)?.body, /opted back in/)

  await text(ctx, 'HELP')
  await drain(ctx.app)
  t.match(conversation.parts.filter((p) => p.part_type === 'note').at(-1)?.body, /asked for help/)
  t.equal(
    (await ctx.app.store.db.selectFrom('consent').select('state').executeTakeFirstOrThrow()).state,
    'opted_in',
    'HELP changes no consent',
  )

  await text(ctx, 'please stop texting me')
  await drain(ctx.app)
  t.equal(
    (await ctx.app.store.db.selectFrom('consent').select('state').executeTakeFirstOrThrow()).state,
    'opted_in',
    'only the exact single word counts',
  )
})

t.test('HELP after STOP: the note says a reply is not texted, and indeed it is not', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'hello')
  await text(ctx, 'STOP')
  await text(ctx, 'HELP')
  await drain(ctx.app)
  const conversation = ctx.intercom.conversations[0]!
  const help = conversation.parts.filter((p) => p.part_type === 'note').at(-1)?.body ?? ''
  t.match(help, /asked for help/)
  t.notMatch(help, /reaches them as SMS/, 'no promise the bridge will not keep')
  t.match(help, /not sent as SMS/)
  t.match(help, /must text START/)
  // What the note says is what happens to a teammate's reply.
  const part = ctx.intercom.addAdminReply(conversation.id, { body: 'Here to help!' })
  t.equal(
    (await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversation.id, [part]))).statusCode,
    200,
  )
  await drain(ctx.app)
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 0, 'nothing texted')
  t.match(await ctx.app.store.db.selectFrom('messages').select('status').where('direction', '=', 'outbound').executeTakeFirst(), {
    status: 'refused',
  })
})

t.test('short codes and alphanumeric senders do not break the pipeline', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'Your code is 1234', { From: '12345' })
  await text(ctx, 'Promo', { From: 'ACME' })
  await drain(ctx.app)
  t.same(ctx.intercom.contacts.map((c) => c.name).sort(), ['SMS sender 12345', 'SMS sender ACME'])
  t.equal(ctx.intercom.conversations.length, 2)
  t.same((await causedJobs(ctx.app)).length, 0, 'nothing dead')
})

t.test('Intercom 429: waits for the reset, then delivers, in order', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'one')
  await drain(ctx.app)
  ctx.intercom.failNext({ status: 429, times: 2, headers: { 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1) } })
  await text(ctx, 'two')
  await text(ctx, 'three')
  await drain(ctx.app)
  t.same(thread(ctx, ctx.intercom.conversations[0]!.id), ['one', 'two', 'three'])
  const limited = ctx.intercom.requests.filter((r) => r.status === 429)
  const after = ctx.intercom.requests.find((r) => r.status === 200 && r.at > limited[1]!.at)
  t.ok(after!.at - limited[0]!.at >= 900, 'waited for the rate-limit window to reset')
})

t.test('5xx answers retry with backoff; nothing is lost', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'one')
  await drain(ctx.app)
  ctx.intercom.failNext({ status: 503, times: 2 })
  await text(ctx, 'two')
  await text(ctx, 'three')
  await drain(ctx.app)
  t.same(thread(ctx, ctx.intercom.conversations[0]!.id), ['one', 'two', 'three'])
  t.equal(ctx.intercom.requests.filter((r) => r.status === 503).length, 2)
  t.equal((await causedJobs(ctx.app)).length, 0)
})

t.test('a reply Intercom stored before the answer was lost is not posted again', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'one')
  await drain(ctx.app)
  ctx.intercom.failNext({ status: 502, afterAccept: true, match: { method: 'POST', path: /reply$/ } })
  await text(ctx, 'two')
  await drain(ctx.app)
  t.equal(ctx.intercom.requests.filter((r) => r.status === 502).length, 1, 'the first attempt did post, then failed')
  t.same(thread(ctx, ctx.intercom.conversations[0]!.id), ['one', 'two'], 'posted once')
})

t.test('a retry does not mistake another text from the same second for its own', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'one')
  await drain(ctx.app)
  // Two texts in the same second: same author, same created_at. The second's answer is lost.
  ctx.intercom.failNext({ status: 502, afterAccept: true, match: { method: 'POST', path: /reply$/ } })
  ctx.intercom.failNext({ status: 502, afterAccept: true, match: { method: 'POST', path: /reply$/ } })
  await text(ctx, 'two')
  await text(ctx, 'three')
  await drain(ctx.app)
  t.same(thread(ctx, ctx.intercom.conversations[0]!.id), ['one', 'two', 'three'], 'each posted once, none lost')
  const parts = await ctx.app.store.db.selectFrom('messages').select('intercom_part_id').where('direction', '=', 'inbound').execute()
  t.equal(new Set(parts.map((p) => p.intercom_part_id)).size, 3, 'each text recorded against its own part')
})

t.test('a timeout after Intercom stored the conversation does not open a second one', async (t) => {
  const ctx = await buildTestApp(t)
  ctx.intercom.failNext({ status: 504, afterAccept: true, match: { method: 'POST', path: /^\/conversations$/ } })
  await text(ctx, 'hello')
  await drain(ctx.app)
  t.equal(ctx.intercom.requests.filter((r) => r.status === 504).length, 1)
  t.equal(ctx.intercom.conversations.length, 1, 'one conversation')
})

t.test('a lost answer on a new conversation is matched exactly, not by day as Intercom searches', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'earlier today')
  await drain(ctx.app)
  const earlier = ctx.intercom.conversations[0]!
  ctx.intercom.closeConversation(earlier.id)
  await ctx.app.store.transaction((trx) =>
    trx
      .updateTable('sms_conversations')
      .set({ closed_at: Date.now() - 30 * 86_400_000 })
      .execute(),
  )
  ctx.intercom.failNext({ status: 504, afterAccept: true, match: { method: 'POST', path: /^\/conversations$/ } })
  await text(ctx, 'a new thread')
  await drain(ctx.app)
  t.equal(ctx.intercom.conversations.length, 2)
  const started = ctx.intercom.conversations[1]!
  t.equal(started.source.body, 'a new thread')
  const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
  t.equal(link.intercom_conversation_id, started.id, 'the retry adopted the conversation it started, not the earlier one')
  t.same(thread(ctx, earlier.id), ['earlier today'])
})

t.test('a permanent refusal goes to the dead jobs with its error; later texts still flow', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'one')
  await drain(ctx.app)
  ctx.intercom.failNext({ status: 403, body: { type: 'error.list', errors: [{ code: 'forbidden', message: 'Token lacks write scope' }] } })
  await text(ctx, 'two')
  await drain(ctx.app)
  const dead = await ctx.app.store.db.selectFrom('jobs').selectAll().where('state', '=', 'dead').execute()
  t.equal(dead.length, 1)
  t.match(dead[0]?.last_error, /Intercom refused to add the text to the conversation \(403\): forbidden: Token lacks write scope/)
  await text(ctx, 'three')
  await drain(ctx.app)
  t.same(thread(ctx, ctx.intercom.conversations[0]!.id), ['one', 'three'])
})

t.test('catch-up ingests texts whose webhooks never arrived, oldest first, exactly once', async (t) => {
  const ctx = await buildTestApp(t)
  await text(ctx, 'seen by webhook')
  await drain(ctx.app)
  // Sent after the database's first start: older texts are history it leaves alone (test/faults/restore.test.ts).
  const now = Date.now()
  ctx.twilio.addInboundMessage({ from: CUSTOMER, to: OUR_NUMBER, body: 'missed 2', at: now + 2_000 })
  ctx.twilio.addInboundMessage({ from: CUSTOMER, to: OUR_NUMBER, body: 'missed 1', at: now + 1_000 })
  ctx.twilio.addInboundMessage({ from: CUSTOMER, to: '+19995550000', body: 'another number', at: now + 2_000 })
  const deps = ctx.app.bridge
  const next = await catchUp(deps)
  t.ok(next.runAgainAt > Date.now(), 'runs again later')
  await drain(ctx.app)
  await catchUp(deps)
  await drain(ctx.app)
  const conversations = ctx.intercom.conversations
  t.equal(conversations.length, 1)
  t.same(thread(ctx, conversations[0]!.id), ['seen by webhook', 'missed 1', 'missed 2'])
  const parts = conversations[0]!.parts
  t.ok(parts[0]!.created_at < parts[1]!.created_at, 'shown at the time they were sent')

  ctx.twilio.failNext({ status: 503, match: { method: 'GET' } })
  const retry = await catchUp(deps)
  t.ok(retry.runAgainAt - Date.now() <= 60_000, 'an outage reschedules sooner instead of failing')
})

t.test('a start makes the catch-up due at once, however far off its next turn was', async (t) => {
  // The queue's state is what is checked: no worker runs the job meanwhile.
  const ctx = await buildTestApp(t, { startWorker: false })
  const store = ctx.app.store
  const catchUpJobs = () => store.db.selectFrom('jobs').select(['id', 'state', 'run_at']).where('task', '=', 'inbound.catchup').execute()
  const start = Date.now()
  await scheduleCatchUp(store, start)
  await scheduleCatchUp(store, start)
  const [job, ...more] = await catchUpJobs()
  t.equal(more.length, 0, 'one catch-up job, however many starts')
  // It ran and asked to run again in five minutes; then the process died and another one started.
  await store.transaction((trx) =>
    trx
      .updateTable('jobs')
      .set({ run_at: start + 300_000 })
      .where('id', '=', job!.id)
      .execute(),
  )
  await scheduleCatchUp(store, start + 1_000)
  t.same(await catchUpJobs(), [{ id: job!.id, state: 'waiting', run_at: start + 1_000 }], 'due now, same job')
  // A running catch-up is left to its runner.
  await store.transaction((trx) =>
    trx
      .updateTable('jobs')
      .set({ state: 'running', run_at: start + 300_000 })
      .where('id', '=', job!.id)
      .execute(),
  )
  await scheduleCatchUp(store, start + 2_000)
  t.same(await catchUpJobs(), [{ id: job!.id, state: 'running', run_at: start + 300_000 }])
})

t.test('the catch-up says which error stopped it, and tries again in a minute', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  ctx.twilio.failNext({
    status: 401,
    body: { code: 20003, message: 'Authenticate', status: 401 },
    match: { method: 'GET', path: /\/Messages\.json$/ },
  })
  const before = Date.now()
  const next = await catchUp(ctx.app.bridge)
  t.ok(next.runAgainAt >= before + 60_000 && next.runAgainAt < Date.now() + 61_000, 'again in a minute, never dead')
  const line = ctx.logs.records().find((r) => /catch-up on missed texts stopped/.test(String(r.msg)))
  t.match(line, {
    level: 40,
    status: 401,
    code: 20003,
    msg: /^the catch-up on missed texts stopped: Twilio refused to list recent texts \(401, error 20003\): Authenticate; it tries again in 1 min$/,
  })
})
