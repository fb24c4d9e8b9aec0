// Issue 23, points 1 and 2: fields a visitor writes on their own Intercom contact. A lead can set its
// own `phone` and `name` from the browser (Intercom('update', {...})), and Intercom signs what they
// wrote. Each attack below runs through the real app on loopback, and fails harmlessly now.
import t from 'tap'
import { join } from 'node:path'
import { MARK_ATTRIBUTE, phoneMark } from '../../server/bridge/trust.js'
import { tempDir } from '../support/db.js'
import { buildTestApp, drain, inboundForm, postCanvas, postIntercomWebhook, postSms, type TestApp } from '../helper.js'

const VICTIM = '+14155550123'
const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')
const link = (ctx: TestApp, phone: string) =>
  ctx.app.store.db.selectFrom('phone_contacts').selectAll().where('phone', '=', phone).executeTakeFirst()
const notes = (ctx: TestApp, conversationId: string) =>
  ctx.intercom
    .conversation(conversationId)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body ?? '')

async function texts(ctx: TestApp, body: string, from = VICTIM) {
  const res = await postSms(ctx, inboundForm(ctx, { From: from, Body: body }))
  t.equal(res.statusCode, 200)
  await drain(ctx.app)
}

/** A teammate's reply in a conversation, delivered as Intercom's webhook delivers it. */
async function teamReplies(ctx: TestApp, conversationId: string, body: string) {
  const part = ctx.intercom.addAdminReply(conversationId, { body: `<p>${body}</p>` })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
  await drain(ctx.app)
}

/** The inbox sidebar as Intercom posts it, for a contact as Intercom describes them. */
function sidebar(
  ctx: TestApp,
  contact: { id: string; role: string; phone?: string | null; custom_attributes?: Record<string, unknown> },
  conversationId: string | null,
) {
  let current: {
    stored_data?: Record<string, unknown>
    content: { components: Array<{ id?: string; text?: string; label?: string }> }
  } | null = null
  const base = {
    workspace_id: 'abc123xy',
    admin: { type: 'admin', id: ctx.intercom.admin.id, name: 'Sam Agent' },
    conversation: conversationId ? { type: 'conversation', id: conversationId } : null,
    contact: { type: 'contact', custom_attributes: {}, ...contact },
  }
  const post = async (path: string, body: Record<string, unknown>) => {
    const res = await postCanvas(ctx, path, body)
    current = res.json().canvas
    return res
  }
  return {
    open: () => post('/canvas/inbox/initialize', base),
    click: (component_id: string, input_values: Record<string, unknown> = {}) =>
      post('/canvas/inbox/submit', { ...base, component_id, input_values, current_canvas: current }),
    has: (id: string) => Boolean(current?.content.components.some((c) => c.id === id)),
    text: () => (current?.content.components ?? []).map((c) => c.text ?? c.label ?? '').join('\n'),
  }
}

t.test('1. a first text is never filed under a lead that claims the number, however recent', async (t) => {
  const ctx = await buildTestApp(t)
  // The victim's own older lead, from browsing the site, and the attacker's newer one: both say
  // they have the victim's number, as any visitor can.
  const own = ctx.intercom.addContact({ role: 'lead', name: 'Vic', phone: VICTIM, updated_at: 1_700_000_000 })
  const mallory = ctx.intercom.addContact({ role: 'lead', name: 'Mallory', phone: VICTIM, updated_at: 2_000_000_000 })
  await texts(ctx, 'my account is locked')

  const ours = ctx.intercom.contacts.find((c) => c.id !== own.id && c.id !== mallory.id)
  t.ok(ours, 'the bridge made its own lead for the number')
  t.match(ours, { role: 'lead', phone: VICTIM })
  const [conversation] = ctx.intercom.conversations
  t.equal(ctx.intercom.conversations.length, 1)
  t.equal(conversation!.source.author.id, ours!.id, "the conversation is the bridge lead's, which no visitor sees in their Messenger")
  t.match(await link(ctx, VICTIM), { intercom_contact_id: ours!.id, source: 'created' })
  t.equal(
    ours!.custom_attributes[MARK_ATTRIBUTE],
    phoneMark(ctx.config, ours!.id, VICTIM),
    'marked, so it is found again without our records',
  )
  const note = notes(ctx, conversation!.id).find((n) => /also on other contacts/.test(n))
  t.ok(note, 'the team is told which other contacts carry the number')
  t.match(note, own.id)
  t.match(note, mallory.id)

  await teamReplies(ctx, conversation!.id, 'We have unlocked it.')
  t.same(
    sent(ctx).map((m) => [m.to, m.body]),
    [[VICTIM, 'We have unlocked it.']],
    "the team's reply reaches the phone that texted",
  )
  t.equal(
    ctx.intercom.conversations.filter((c) => c.contacts.some((x) => x.id === mallory.id)).length,
    0,
    "nothing ever shows in the attacker's Messenger",
  )
})

t.test(
  '1. without its records (a restore, a new volume) the bridge finds its own lead by its mark: no second lead or conversation',
  async (t) => {
    const dir = tempDir(t)
    const first = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'a.db')}` } })
    await texts(first, 'hello')
    const ours = first.intercom.contacts[0]!
    const conversation = first.intercom.conversations[0]!
    await first.app.close()

    // Meanwhile a visitor claims the number, and copies the bridge's mark value onto their own lead.
    first.intercom.addContact({
      role: 'lead',
      name: 'Mallory',
      phone: VICTIM,
      updated_at: 2_000_000_000,
      custom_attributes: { [MARK_ATTRIBUTE]: ours.custom_attributes[MARK_ATTRIBUTE] },
    })

    const fresh = await buildTestApp(t, { env: { DATABASE_URL: `file:${join(dir, 'b.db')}` }, standIns: first })
    await texts(fresh, 'hello again')
    t.equal(fresh.intercom.contacts.length, 2, 'no new lead')
    t.equal(fresh.intercom.conversations.length, 1, 'no new conversation')
    t.same(
      conversation.parts.filter((p) => p.part_type === 'comment').map((p) => p.body),
      ['hello again'],
      'the text threads where the first one is',
    )
    t.match(await link(fresh, VICTIM), { intercom_contact_id: ours.id, source: 'marked' })
  },
)

t.test('1. links made before marks get theirs from the daily maintenance', async (t) => {
  const ctx = await buildTestApp(t)
  await texts(ctx, 'hello')
  const ours = ctx.intercom.contacts[0]!
  // As a link from an older version: no mark on the contact, none recorded.
  delete ours.custom_attributes[MARK_ATTRIBUTE]
  await ctx.app.store.transaction((trx) => trx.updateTable('phone_contacts').set({ marked_at: null }).execute())
  await ctx.app.store.transaction((trx) => trx.updateTable('jobs').set({ run_at: 0 }).where('task', '=', 'maintenance.prune').execute())
  ctx.app.worker.wake()
  await drain(ctx.app)
  t.equal(ours.custom_attributes[MARK_ATTRIBUTE], phoneMark(ctx.config, ours.id, VICTIM))
  t.ok((await link(ctx, VICTIM))?.marked_at)
})

t.test(
  "1. a user from the team's systems is the number's; with MATCH_USERS_BY_PHONE=false, Merge moves the bridge's lead to them in one step",
  async (t) => {
    const trusting = await buildTestApp(t)
    const ana = trusting.intercom.addContact({ role: 'user', email: 'ana@example.com', name: 'Ana', phone: VICTIM })
    trusting.intercom.addContact({ role: 'lead', name: 'Mallory', phone: VICTIM, updated_at: 2_000_000_000 })
    await texts(trusting, 'hi')
    t.equal(trusting.intercom.conversations[0]?.source.author.id, ana.id)
    t.match(await link(trusting, VICTIM), { source: 'user' })

    const ctx = await buildTestApp(t, { env: { MATCH_USERS_BY_PHONE: 'false' } })
    const user = ctx.intercom.addContact({ role: 'user', email: 'bo@example.com', name: 'Bo', phone: VICTIM })
    await texts(ctx, 'hi')
    const lead = ctx.intercom.contacts.find((c) => c.id !== user.id)!
    const conversation = ctx.intercom.conversations[0]!
    t.equal(conversation.source.author.id, lead.id, "not trusted by itself: the bridge's own lead")
    t.match(notes(ctx, conversation.id).join('\n'), /Merge/)

    const panel = sidebar(ctx, { id: lead.id, role: 'lead', phone: VICTIM }, conversation.id)
    await panel.open()
    t.ok(panel.has('merge_contact'), 'the panel offers the merge')
    await panel.click('merge_contact')
    await drain(ctx.app)
    t.notOk(
      ctx.intercom.contacts.some((c) => c.id === lead.id),
      'merged away in Intercom',
    )
    t.equal(conversation.contacts[0]?.id, user.id, "the conversation is the user's now")
    t.match(await link(ctx, VICTIM), { intercom_contact_id: user.id, source: 'teammate' })
    await texts(ctx, 'thanks')
    t.equal(ctx.intercom.conversations.length, 1)
    t.equal(conversation.parts.filter((p) => p.part_type === 'comment').at(-1)?.author.id, user.id, 'the next text threads to the user')
    t.equal(user.custom_attributes[MARK_ATTRIBUTE], phoneMark(ctx.config, user.id, VICTIM))
  },
)

t.test("1. the sidebar never adopts a number only the contact's own profile names", async (t) => {
  const ctx = await buildTestApp(t)
  // The attacker's lead, with the victim's number on it and a Messenger conversation of its own.
  const mallory = ctx.intercom.addContact({ role: 'lead', name: 'Mallory', phone: VICTIM })
  const chat = { id: '90001' }
  ctx.intercom.conversations.push(blankConversation(chat.id, mallory.id))
  const panel = sidebar(ctx, { id: mallory.id, role: 'lead', phone: VICTIM }, chat.id)
  await panel.open()
  t.match(panel.text(), /on the contact's profile, which a visitor can set/)
  t.ok(panel.has('confirm_phone'))
  t.notOk(panel.has('send_sms'), 'no Send button for an unconfirmed number')
  t.notOk(panel.has('send_welcome'))

  // A click on Send anyway (an old canvas, a forged submit): refused, nothing linked or sent.
  await panel.click('send_sms', { sms_body: 'Your code is ready' })
  t.match(panel.text(), /Confirm the number first/)
  await panel.click('send_welcome')
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0)
  t.equal(await link(ctx, VICTIM), undefined)
  t.equal(
    (await ctx.app.store.db.selectFrom('sms_conversations').selectAll().execute()).length,
    0,
    "the chat did not become the number's SMS conversation",
  )

  // The teammate vouches for it: now it is linked (by a teammate) and texts go.
  await panel.click('confirm_phone')
  t.match(await link(ctx, VICTIM), { intercom_contact_id: mallory.id, source: 'teammate' })
  await panel.click('send_sms', { sms_body: 'Hello from the team' })
  await drain(ctx.app)
  t.same(
    sent(ctx).map((m) => m.body),
    ['Hello from the team'],
  )

  // A user's phone is the team's data: no confirmation asked.
  const user = ctx.intercom.addContact({ role: 'user', email: 'ana@example.com', phone: '+14155550124' })
  const userPanel = sidebar(ctx, { id: user.id, role: 'user', phone: '+14155550124' }, null)
  await userPanel.open()
  t.ok(userPanel.has('send_sms'))
  t.notOk(userPanel.has('confirm_phone'))
})

t.test("2. the welcome is no open relay: a lead's own phone gets nothing, a name is only ever a plain first name", async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Hi {{first_name|there}}, welcome to Acme! {{name|}}' } })
  const stranger = '+14155550170'
  const lure = ctx.intercom.addContact({ role: 'lead', name: 'acme-account-locked.example/unlock', phone: stranger })
  await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.lead.created', lure.id))
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0, "the company's number texts no stranger")
  const skipped = await ctx.app.store.db
    .selectFrom('automated_sends')
    .selectAll()
    .where('key', '=', `welcome:${lure.id}`)
    .executeTakeFirstOrThrow()
  t.match(skipped, { status: 'skipped', reason: /only on the contact's own profile/ })

  // Users from the team's systems get it; whatever they (or a browser) wrote as a name, only a plain
  // first name is ever rendered.
  const names: Array<[string | null, string]> = [
    ['Zoë Lima', 'Zoë'],
    ['Jean-Luc Picard', 'Jean-Luc'],
    ["O'Brien", "O'Brien"],
    ['acme-account-locked.example/unlock now', 'there'],
    ['https://evil.example', 'there'],
    ['<b>Bo</b>', 'there'],
    ['Call 5550100', 'Call'],
    ['R2D2', 'there'],
    ['Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'there'],
    [null, 'there'],
  ]
  for (const [i, [name]] of names.entries()) {
    const user = ctx.intercom.addContact({ role: 'user', external_id: `crm-${i}`, name, phone: `+1415555020${i}` })
    await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', user.id))
  }
  await drain(ctx.app)
  const bodies = new Map(sent(ctx).map((m) => [m.to, m.body]))
  for (const [i, [name, shown]] of names.entries()) {
    const expected = `Hi ${shown}, welcome to Acme!${shown === 'there' ? '' : ` ${shown}`}`
    t.equal(bodies.get(`+1415555020${i}`), expected, `name ${JSON.stringify(name)}`)
  }
})

function blankConversation(id: string, contactId: string) {
  return {
    type: 'conversation' as const,
    id,
    created_at: 1_700_000_000,
    updated_at: 1_700_000_000,
    state: 'open' as const,
    open: true,
    tags: [],
    source: {
      type: 'conversation' as const,
      id: `${id}0`,
      delivered_as: 'customer_initiated' as const,
      subject: '',
      body: 'hi from the Messenger',
      author: { type: 'lead' as const, id: contactId, name: null, email: null },
      attachments: [],
      url: null,
      redacted: false as const,
    },
    contacts: [{ type: 'contact' as const, id: contactId, external_id: null }],
    parts: [],
  }
}
