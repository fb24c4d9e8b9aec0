import t from 'tap'
import { prune } from '../../server/bridge/maintenance.js'
import { WEBHOOK_TOPICS } from '../../server/bridge/notifications.js'
import { REDACT_RETRY_MS } from '../../server/bridge/privacy.js'
import { runPrivacyCommand } from '../../server/ops/privacy.js'
import { buildTestApp, drain, inboundForm, OUR_NUMBER, postIntercomWebhook, postSms, type TestApp } from '../helper.js'

const CUSTOMER = '+14155550123'
const OTHER = '+14155550199'
const DAY = 86_400_000

/** The customer texts in (the text is in Twilio's log, as a real one is), a teammate replies, and it is sent. */
async function conversationWithReply(ctx: TestApp, from = CUSTOMER, body = 'My order 4417 has not arrived') {
  const inbound = ctx.twilio.addInboundMessage({ from, to: OUR_NUMBER, body })
  const res = await postSms(ctx, inboundForm(ctx, { From: from, Body: body, MessageSid: inbound.sid }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  const contact = ctx.intercom.contacts.find((c) => c.phone === from)!
  const conversation = ctx.intercom.conversations.find((c) => c.contacts[0]!.id === contact.id)!
  const part = ctx.intercom.addAdminReply(conversation.id, { body: '<p>Sorry, it ships today</p>' })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversation.id, [part]))
  await drain(ctx.app)
  return {
    inbound,
    contactId: contact.id,
    conversationId: conversation.id,
    form: inboundForm(ctx, { From: from, Body: body, MessageSid: inbound.sid }),
  }
}

async function run(ctx: TestApp, command: 'erase' | 'export', args: string[]) {
  const lines: string[] = []
  const code = await runPrivacyCommand(command, args, ctx.config, (line) => lines.push(line))
  return { code, out: lines.join('\n') }
}

const rowsOf = (ctx: TestApp, table: 'phone_contacts' | 'sms_conversations' | 'sms_conversation_links' | 'consent' | 'messages') =>
  ctx.app.store.db.selectFrom(table).selectAll().execute()

t.test(
  'export prints everything held about a number; erase anonymises the texts, keeps the opt-out and redacts at Twilio once the texts are final',
  async (t) => {
    const ctx = await buildTestApp(t)
    const { inbound, form } = await conversationWithReply(ctx)
    const stop = ctx.twilio.addInboundMessage({ from: CUSTOMER, to: OUR_NUMBER, body: 'STOP' })
    await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'STOP', MessageSid: stop.sid }))
    await drain(ctx.app)
    await conversationWithReply(ctx, OTHER, 'Someone else')

    const exported = await run(ctx, 'export', ['--phone', '+1 (415) 555-0123'])
    t.equal(exported.code, 0)
    const data = JSON.parse(exported.out)
    t.same(data.phones, [CUSTOMER], 'a number as typed is found in E.164')
    t.same(
      data.records.messages.map((m: { body: string }) => m.body),
      ['My order 4417 has not arrived', 'Sorry, it ships today', 'STOP'],
    )
    t.equal(data.records.phoneContacts.length, 1)
    t.match(data.records.consent, [{ phone: CUSTOMER, state: 'opted_out' }])
    t.notMatch(exported.out, 'Someone else', "another customer's texts are not in it")
    t.notMatch(exported.out, 'code_hash')

    const reply = ctx.twilio.messages.find((m) => m.direction === 'outbound-api' && m.to === CUSTOMER)!
    t.equal(reply.status, 'queued', 'the reply is still on its way at Twilio')
    const erased = await run(ctx, 'erase', ['--phone', CUSTOMER])
    t.equal(erased.code, 0)
    t.match(
      erased.out,
      /Erased what the bridge held about \+\*+0123 .*3 texts anonymised.*opt-out \(STOP\) is kept.*3 texts will be redacted at Twilio/s,
    )
    t.notMatch(erased.out, CUSTOMER, 'the summary masks the number')

    const texts = await rowsOf(ctx, 'messages')
    const mine = texts.filter((m) => m.twilio_sid === inbound.sid || m.twilio_sid === reply.sid || m.twilio_sid === stop.sid)
    t.equal(mine.length, 3, 'the rows stay, for their MessageSids')
    t.ok(
      mine.every((m) => m.phone === '' && m.body === '' && m.media === '[]' && m.intercom_contact_id === null && m.redacted_at !== null),
      'without number, words, media or contact',
    )
    t.same(
      (await rowsOf(ctx, 'phone_contacts')).map((r) => r.phone),
      [OTHER],
    )
    t.same(
      (await rowsOf(ctx, 'sms_conversations')).map((r) => r.phone),
      [OTHER],
    )
    t.same(
      (await rowsOf(ctx, 'consent')).map((r) => [r.phone, r.state]),
      [[CUSTOMER, 'opted_out']],
      'the STOP is honoured still',
    )

    await drain(ctx.app)
    t.equal(ctx.twilio.messages.find((m) => m.sid === inbound.sid)!.body, '', 'a received text is redacted at once')
    t.equal(reply.body, 'Sorry, it ships today', 'Twilio refused to redact a text still on its way')
    const waiting = await ctx.app.store.db.selectFrom('jobs').selectAll().where('task', '=', 'privacy.redact').execute()
    t.equal(waiting.length, 1)
    t.match(waiting[0]!.last_error, /refused to redact SM\w+ .*on its way/)
    t.ok(waiting[0]!.run_at >= Date.now() + REDACT_RETRY_MS - 60_000, 'asked again in an hour')

    reply.status = 'delivered'
    await ctx.app.store.transaction((trx) => trx.updateTable('jobs').set({ run_at: 0 }).where('id', '=', waiting[0]!.id).execute())
    ctx.app.worker.wake()
    await drain(ctx.app)
    t.equal(reply.body, '', 'redacted once final')
    t.same(await ctx.app.store.db.selectFrom('jobs').select('id').where('task', '=', 'privacy.redact').execute(), [])
    const redactions = ctx.twilio.requests.filter((r) => r.method === 'POST' && /\/Messages\/\w+\.json$/.test(r.path))
    t.ok(
      redactions.every((r) => (r.body as Record<string, string>).Body === ''),
      'every update only blanks the body',
    )

    const again = await postSms(ctx, form)
    t.equal(again.statusCode, 200)
    await drain(ctx.app)
    t.equal(
      (await rowsOf(ctx, 'messages')).filter((m) => m.twilio_sid === inbound.sid).length,
      1,
      'a redelivered webhook is still known: no second text',
    )
    t.same((await run(ctx, 'export', ['--phone', CUSTOMER])).out.match(/"body": "[^"]+"/g), null, 'nothing with words is left to export')
  },
)

t.test('contact.deleted from Intercom erases the contact; setup lists the topic', async (t) => {
  t.ok((WEBHOOK_TOPICS as readonly string[]).includes('contact.deleted'))
  const ctx = await buildTestApp(t)
  const { contactId } = await conversationWithReply(ctx)
  await conversationWithReply(ctx, OTHER, 'Someone else')
  const res = await postIntercomWebhook(ctx, ctx.intercom.contactDeletedNotification(contactId))
  t.equal(res.statusCode, 200)
  t.same(
    (await rowsOf(ctx, 'phone_contacts')).map((r) => r.phone),
    [OTHER],
  )
  t.same(
    (await rowsOf(ctx, 'sms_conversation_links')).map((r) => r.phone),
    [OTHER],
  )
  const left = (await rowsOf(ctx, 'messages')).filter((m) => m.body !== '')
  t.same(
    left.map((m) => m.phone),
    [OTHER, OTHER],
    "only the other customer's texts keep their words",
  )
  t.same(await rowsOf(ctx, 'consent'), [], 'no opt-out to keep')
  const jobs = await ctx.app.store.db.selectFrom('jobs').select('key').where('task', '=', 'privacy.redact').execute()
  t.equal(jobs.length, 2, 'both of their texts are queued for redaction at Twilio')
})

t.test('erase and export refuse unclear arguments and change nothing', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  await ctx.app.store.transaction((trx) =>
    trx.insertInto('consent').values({ phone: CUSTOMER, state: 'opted_in', source: 'keyword', changed_at: 1 }).execute(),
  )
  for (const args of [
    [],
    ['--phone'],
    ['--phone', 'not a number'],
    ['--contact', 'a b'],
    ['--email', 'x@y.z'],
    ['--phone', CUSTOMER, '--contact', 'c1'],
  ]) {
    const errors: string[] = []
    const original = console.error
    console.error = (line: string) => void errors.push(line)
    try {
      t.equal((await run(ctx, 'erase', args)).code, 2, args.join(' '))
    } finally {
      console.error = original
    }
    t.match(errors.join('\n'), /Usage: sms-bridge erase --phone/)
  }
  t.equal((await rowsOf(ctx, 'consent')).length, 1)
  t.match((await run(ctx, 'erase', ['--contact', 'nobody'])).out, 'The bridge holds nothing about contact nobody.')
})

t.test('retention removes the words and media of old texts in batches, keeps recent and unfinished ones; 0 keeps all', async (t) => {
  const ctx = await buildTestApp(t, { startWorker: false })
  const now = Date.now()
  const text = (i: number, created: number, status: 'delivered' | 'pending' | 'received' | 'delivered_to_intercom') => ({
    direction: 'inbound' as const,
    twilio_sid: `SM${String(i).padStart(32, '0')}`,
    phone: CUSTOMER,
    body: `text ${i}`,
    media: JSON.stringify([{ url: 'https://api.twilio.com/x', contentType: 'image/png' }]),
    num_segments: 1,
    status,
    created_at: created,
    updated_at: created,
  })
  await ctx.app.store.transaction(async (trx) => {
    const old = Array.from({ length: 2_500 }, (_, i) => text(i, now - 91 * DAY - i, 'delivered_to_intercom'))
    for (let i = 0; i < old.length; i += 500)
      await trx
        .insertInto('messages')
        .values(old.slice(i, i + 500))
        .execute()
    await trx
      .insertInto('messages')
      .values([
        text(10_001, now - 89 * DAY, 'delivered'),
        text(10_002, now - 200 * DAY, 'pending'),
        text(10_003, now - 200 * DAY, 'received'),
      ])
      .execute()
    await trx
      .insertInto('automated_sends')
      .values([
        {
          key: 'welcome:old',
          kind: 'welcome',
          intercom_contact_id: 'old',
          phone: CUSTOMER,
          body: 'Welcome!',
          template: null,
          status: 'sent',
          reason: null,
          message_id: null,
          requested_by: null,
          created_at: now - 100 * DAY,
          updated_at: now,
        },
        {
          key: 'welcome:new',
          kind: 'welcome',
          intercom_contact_id: 'new',
          phone: CUSTOMER,
          body: 'Welcome!',
          template: null,
          status: 'sent',
          reason: null,
          message_id: null,
          requested_by: null,
          created_at: now - DAY,
          updated_at: now,
        },
      ])
      .execute()
  })

  const keepAll = await buildTestApp(t, { startWorker: false, env: { MESSAGE_RETENTION_DAYS: '0' } })
  t.equal(keepAll.config.messageRetentionMs, null)
  t.equal(ctx.config.messageRetentionMs, 90 * DAY, 'the default is 90 days')

  const commits = ctx.app.store.commits
  await prune({ store: ctx.app.store, log: ctx.app.log, config: ctx.config }, now)
  t.ok(ctx.app.store.commits - commits >= 3, 'a batch per write')
  const rows = await ctx.app.store.db
    .selectFrom('messages')
    .select(['body', 'media', 'status', 'redacted_at', 'twilio_sid', 'phone'])
    .execute()
  const kept = rows.filter((r) => r.body !== '')
  t.same(
    kept.map((r) => r.body).sort(),
    ['text 10001', 'text 10002', 'text 10003'],
    'recent, unsent and undelivered texts keep their words',
  )
  const removed = rows.filter((r) => r.body === '')
  t.equal(removed.length, 2_500)
  t.ok(
    removed.every((r) => r.media === '[]' && r.redacted_at === now && r.twilio_sid && r.phone === CUSTOMER),
    'MessageSid and number stay',
  )
  t.same(await ctx.app.store.db.selectFrom('automated_sends').select(['key', 'body']).orderBy('key').execute(), [
    { key: 'welcome:new', body: 'Welcome!' },
    { key: 'welcome:old', body: null },
  ])
})
