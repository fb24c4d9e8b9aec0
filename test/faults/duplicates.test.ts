import t from 'tap'
import { buildTestApp, causedJobs, drain, inboundForm, postIntercomWebhook, postSms, postStatus, type TestApp } from '../helper.js'

const WELCOME = 'Hi {{first_name|there}}, welcome to Acme!'

/** A small seeded PRNG, so a failing shuffle can be replayed with FAULT_SEED. */
function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Sends every request twice: both at once, or the copy after the original was answered. */
async function twice<R extends { statusCode: number; body: string }>(
  send: () => Promise<R>,
  together: boolean,
  expected: number,
): Promise<void> {
  const answers = together ? await Promise.all([send(), send()]) : [await send(), await send()]
  for (const a of answers) if (a.statusCode !== expected) throw new Error(`answered ${a.statusCode}, expected ${expected}: ${a.body}`)
}

const countRows = async (ctx: TestApp, table: 'webhook_receipts', source: string) =>
  Number(
    (
      await ctx.app.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('source', '=', source)
        .executeTakeFirstOrThrow()
    ).n,
  )

t.test('every webhook delivered twice, status callbacks shuffled: each effect happens once and the final statuses are right', async (t) => {
  const seed = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000_007)
  t.comment(`shuffle seed ${seed} (FAULT_SEED=${seed} replays it)`)
  const random = prng(seed)
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: WELCOME } })
  let intercomWebhooks = 0
  const intercomTwice = async (payload: unknown, together: boolean) => {
    intercomWebhooks++
    await twice(() => postIntercomWebhook(ctx, payload), together, 200)
  }

  // 1. Two people sign up in the Messenger: contact.user.created, twice each (at once, then one late).
  const signups = [
    ctx.intercom.addContact({ role: 'user', email: 'ana@example.com', name: 'Ana Lima', phone: '+14155550601' }),
    ctx.intercom.addContact({ role: 'user', email: 'bo@example.com', name: 'Bo Chen', phone: '+14155550602' }),
  ]
  await Promise.all(signups.map((c, i) => intercomTwice(ctx.intercom.contactNotification('contact.user.created', c.id), i === 0)))

  // 2. Three customers text, in order; Twilio's webhook for each text comes twice, the copy at once
  //    or only after the customer's next text.
  const customers = ['+14155550701', '+14155550702', '+14155550703']
  const TEXTS = 4
  const bodyOf = (phone: string, i: number) => `${phone.slice(-3)} says ${i}`
  let smsWebhooks = 0
  await Promise.all(
    customers.map(async (phone, c) => {
      let late: Record<string, string> | null = null
      for (let i = 1; i <= TEXTS; i++) {
        const form = inboundForm(ctx, { From: phone, Body: bodyOf(phone, i) })
        smsWebhooks++
        if ((i + c) % 2 === 0) await twice(() => postSms(ctx, form), true, 200)
        else await postSms(ctx, form)
        if (late) await postSms(ctx, late)
        late = (i + c) % 2 === 0 ? null : form
      }
      if (late) await postSms(ctx, late)
    }),
  )
  await drain(ctx.app)
  const contactOf = (phone: string) => ctx.intercom.contacts.find((x) => x.phone === phone)!
  const conversationOf = (phone: string) => ctx.intercom.conversations.find((x) => x.contacts[0]!.id === contactOf(phone).id)!

  // Intercom tells us about the leads the bridge created for them (twice too): no welcome for those.
  await Promise.all(
    customers.map((p, i) => intercomTwice(ctx.intercom.contactNotification('contact.lead.created', contactOf(p).id), i % 2 === 0)),
  )

  // 3. Teammates reply, twice each; each part also comes again inside a later notification.
  const REPLIES = 2
  const replyOf = (phone: string, i: number) => `reply ${i} to ${phone.slice(-3)}`
  for (let i = 1; i <= REPLIES; i++) {
    await Promise.all(
      customers.map(async (phone, c) => {
        const id = conversationOf(phone).id
        const part = ctx.intercom.addAdminReply(id, { body: `<p>${replyOf(phone, i)}</p>` })
        await intercomTwice(ctx.intercom.notification('conversation.admin.replied', id, [part]), (i + c) % 2 === 0)
        await intercomTwice(ctx.intercom.notification('conversation.admin.replied', id, [part]), true)
      }),
    )
  }
  // A customer whose number Twilio refuses for good: one failed text, one note, however often it comes.
  const refused = '+14155550704'
  await postSms(ctx, inboundForm(ctx, { From: refused, Body: 'landline?' }))
  smsWebhooks++
  await drain(ctx.app)
  ctx.twilio.rejectRecipient(refused, 21614)
  const refusedPart = ctx.intercom.addAdminReply(conversationOf(refused).id, { body: 'Can you read this?' })
  await intercomTwice(ctx.intercom.notification('conversation.admin.replied', conversationOf(refused).id, [refusedPart]), true)
  await drain(ctx.app)

  // 4. Twilio reports each text's progress; every callback comes twice, all shuffled, several at once.
  const outbound = () => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
  const lifecycles = new Map<string, Array<Record<string, string>>>()
  outbound().forEach((m, i) => {
    const steps = ['queued', 'sending', 'sent']
    const end =
      i % 5 === 1
        ? [{ MessageStatus: 'undelivered', ErrorCode: '30003' }]
        : i % 5 === 3
          ? [{ MessageStatus: 'failed', ErrorCode: '30005' }]
          : i % 5 === 4
            ? [{ MessageStatus: 'delivered' }, { MessageStatus: 'read' }]
            : [{ MessageStatus: 'delivered' }]
    lifecycles.set(
      m.sid,
      [...steps.map((s) => ({ MessageStatus: s })), ...end].map((x) => ({ MessageSid: m.sid, ...x })),
    )
  })
  const callbacks = shuffle(
    [...lifecycles.values()].flat().flatMap((cb) => [cb, cb]),
    random,
  )
  const statusAnswers: number[] = []
  for (let i = 0; i < callbacks.length; i += 5) {
    const answers = await Promise.all(callbacks.slice(i, i + 5).map((cb) => postStatus(ctx, cb)))
    statusAnswers.push(...answers.map((a) => a.statusCode))
  }
  t.same(new Set(statusAnswers), new Set([204]), `all ${callbacks.length} status callbacks answered 204`)
  // 5. The teammate closes a conversation; that webhook comes twice as well.
  const closing = conversationOf(customers[0]!).id
  ctx.intercom.closeConversation(closing)
  await intercomTwice(ctx.intercom.notification('conversation.admin.closed', closing, []), true)
  await drain(ctx.app)

  // Texts in: one part each, in order, one contact and one conversation per customer.
  for (const phone of customers) {
    const c = conversationOf(phone)
    const texts = [
      c.source.body,
      ...c.parts.filter((p) => p.part_type === 'comment' && p.author.id === contactOf(phone).id).map((p) => p.body),
    ]
    t.same(
      texts,
      Array.from({ length: TEXTS }, (_, i) => bodyOf(phone, i + 1)),
      `${phone.slice(-3)}: each text once, in order`,
    )
  }
  t.equal(ctx.intercom.contacts.length, signups.length + customers.length + 1, 'one contact per customer')
  t.equal(ctx.intercom.conversations.length, customers.length + 1, 'one conversation per customer')

  // Texts out: one per reply, one welcome per new contact, none for leads made from a text.
  for (const phone of customers) {
    t.same(
      outbound()
        .filter((m) => m.to === phone)
        .map((m) => m.body),
      [replyOf(phone, 1), replyOf(phone, 2)],
      `${phone.slice(-3)}: each reply texted once`,
    )
  }
  t.same(
    outbound()
      .filter((m) => signups.some((c) => c.phone === m.to))
      .map((m) => [m.to, m.body]),
    [
      ['+14155550601', 'Hi Ana, welcome to Acme!'],
      ['+14155550602', 'Hi Bo, welcome to Acme!'],
    ],
    'one welcome per new contact',
  )
  const creates = ctx.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'))
  t.equal(creates.filter((r) => (r.body as Record<string, string>).To === refused).length, 1, 'the refused number was tried once')
  const skipped = await ctx.app.store.db
    .selectFrom('automated_sends')
    .select(['key', 'status', 'reason'])
    .where('status', '=', 'skipped')
    .execute()
  t.same(
    skipped.map((x) => x.key).sort(),
    customers.map((p) => `welcome:${contactOf(p).id}`).sort(),
    'the leads made from texts were not welcomed',
  )

  // Statuses: where each text's own lifecycle ends, whatever order and however often it was told.
  const rows = await ctx.app.store.db.selectFrom('messages').selectAll().where('direction', '=', 'outbound').execute()
  t.equal(rows.length, outbound().length + 1, 'one stored text per text sent, plus the refused one')
  for (const row of rows) {
    if (row.phone === refused) {
      t.match(row, { status: 'failed', error_code: 21614, twilio_sid: null }, 'the refused text is failed')
      continue
    }
    const last = lifecycles.get(row.twilio_sid!)!.at(-1)!
    t.same(
      [row.status, row.error_code],
      [last.MessageStatus, last.ErrorCode ? Number(last.ErrorCode) : null],
      `${row.body}: ${last.MessageStatus}`,
    )
  }

  // One failure note per failed text in a conversation, naming it; nothing else noted.
  const failedRows = rows.filter((r) => ['failed', 'undelivered'].includes(r.status) && r.intercom_conversation_id)
  t.ok(failedRows.length >= 3, `some texts failed (${failedRows.length})`)
  const allNotes = ctx.intercom.conversations.flatMap((c) =>
    c.parts.filter((p) => p.part_type === 'note').map((p) => ({ conversation: c.id, body: p.body ?? '' })),
  )
  const welcomeNotes = allNotes.filter((n) => /Welcome text not sent/.test(n.body))
  t.same(
    welcomeNotes.map((n) => n.conversation).sort(),
    customers.map((p) => conversationOf(p).id).sort(),
    'one "welcome not sent" note per customer who texted first',
  )
  const notes = allNotes.filter((n) => !welcomeNotes.includes(n))
  t.equal(notes.length, failedRows.length, 'one failure note per failed text, nothing else noted')
  for (const row of failedRows) {
    const mine = notes.filter(
      (n) =>
        n.conversation === row.intercom_conversation_id &&
        (row.twilio_sid ? n.body.includes(row.twilio_sid) : n.body.includes(String(row.error_code))),
    )
    t.equal(mine.length, 1, `one note for "${row.body}"`)
  }

  // The contact attributes follow the newest text's final status.
  for (const contact of ctx.intercom.contacts) {
    const newest = rows
      .filter((r) => r.intercom_contact_id === contact.id && r.twilio_sid)
      .sort((a, b) => b.created_at - a.created_at || b.id - a.id)[0]
    if (!newest) continue
    t.match(
      contact.custom_attributes,
      { last_sms_sid: newest.twilio_sid, last_sms_status: newest.status },
      `contact of ${newest.phone.slice(-3)}: last text's status`,
    )
  }

  // The close was recorded once; every webhook left one receipt, whatever was redelivered.
  const link = await ctx.app.store.db
    .selectFrom('sms_conversations')
    .selectAll()
    .where('intercom_conversation_id', '=', closing)
    .executeTakeFirstOrThrow()
  t.ok(link.closed_at, 'the close is recorded')
  const inbound = await ctx.app.store.db.selectFrom('messages').select('twilio_sid').where('direction', '=', 'inbound').execute()
  t.equal(inbound.length, smsWebhooks, 'one stored text per text sent')
  t.equal(await countRows(ctx, 'webhook_receipts', 'intercom'), intercomWebhooks, 'one receipt per Intercom notification')
  t.same(await causedJobs(ctx.app), [], 'no job left, none dead')
})

t.test('regression: contact attributes that already exist in Intercom are used, not a dead job', async (t) => {
  // Found by the test above: two contacts' status syncs created last_sms_sid at the same moment, and
  // Intercom's "You already have 'last_sms_sid' in your data" buried the second. The same happens
  // when the workspace has them from an earlier install.
  const ctx = await buildTestApp(t)
  ctx.intercom.dataAttributes.push(
    { name: 'last_sms_sid', model: 'contact', data_type: 'string' },
    { name: 'last_sms_status', model: 'contact', data_type: 'string' },
  )
  await postSms(ctx, inboundForm(ctx, { From: '+14155550801', Body: 'hi' }))
  await drain(ctx.app)
  const conversationId = ctx.intercom.conversations[0]!.id
  const part = ctx.intercom.addAdminReply(conversationId, { body: 'hello back' })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
  await drain(ctx.app)
  const [sms] = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
  t.equal((await postStatus(ctx, { MessageSid: sms!.sid, MessageStatus: 'delivered' })).statusCode, 204)
  await drain(ctx.app)
  t.same(await ctx.app.store.db.selectFrom('jobs').select(['task', 'last_error']).where('state', '=', 'dead').execute(), [], 'no dead job')
  t.match(ctx.intercom.contacts[0]!.custom_attributes, { last_sms_sid: sms!.sid, last_sms_status: 'delivered' })
})
