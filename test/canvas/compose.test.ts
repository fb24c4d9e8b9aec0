import t, { type Test } from 'tap'
import { canvasResponse, type CanvasResponse, type Component } from '../../canvas/schema.js'
import { previewPanel } from '../../canvas/compose-views.js'
import { createIntercomClient } from '../../server/clients/intercom.js'
import { reportMacros } from '../../server/ops/macros-check.js'
import { loadConfig } from '../../server/config.js'
import type { Macro } from '../../sandbox/intercom/macros.js'
import { buildTestApp, drain, inboundForm, postCanvas, postIntercomWebhook, postSms, type TestApp } from '../helper.js'

// The sidebar's composer through the real app: macros the teammate may use, a macro rendered for
// the contact, the Preview with its counter, and Send; Welcome and Series naming a macro.

const CUSTOMER = '+14155550123'
const TEAMMATE = '814860'

function inboxRequest(ctx: TestApp, contact: Record<string, unknown>, conversationId: string, extra: Record<string, unknown> = {}) {
  return {
    workspace_id: 'abc123xy',
    admin: { type: 'admin', id: TEAMMATE, name: 'Sam Agent', email: 'sam@example.com' },
    conversation: { type: 'conversation', id: conversationId, state: 'open' },
    contact: { type: 'contact', role: 'lead', ...contact },
    context: { conversation_id: Number(conversationId), location: 'inbox', locale: 'en' },
    ...extra,
  }
}

/** Posts a signed Canvas Kit request; a submit carries the last canvas answered, as Intercom's do. */
async function post(
  t: Test,
  ctx: TestApp,
  path: string,
  body: Record<string, unknown>,
  last: { canvas?: unknown },
): Promise<CanvasResponse> {
  const res = await postCanvas(
    ctx,
    path,
    body.component_id && !('current_canvas' in body) ? { ...body, current_canvas: last.canvas ?? null } : body,
  )
  t.equal(res.statusCode, 200)
  const parsed = canvasResponse.safeParse(res.json())
  t.ok(parsed.success, `a valid canvas${parsed.success ? '' : `: ${JSON.stringify(parsed.error.issues)}`}`)
  last.canvas = res.json().canvas
  return res.json()
}

const byId = (c: CanvasResponse, id: string) =>
  c.canvas.content.components.find((x) => 'id' in x && x.id === id) as (Component & Record<string, any>) | undefined

async function setUp(t: Test, env: Record<string, string> = {}) {
  const ctx = await buildTestApp(t, { env: { INTERCOM_WORKSPACE_ID: 'abc123xy', ...env } })
  // Intercom shows the token's admin the macros of its teams; the bridge narrows them to the teammate's.
  ctx.intercom.teammates.set(ctx.intercom.admin.id, { name: 'Bridge Admin', team_ids: ['support_team_1', 'security_team'] })
  ctx.intercom.teammates.set(TEAMMATE, { name: 'Sam Agent', team_ids: ['support_team_2'] })
  await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Hi, where is my refund?' }))
  await drain(ctx.app)
  const contact = ctx.intercom.contacts[0]!
  const conversation = ctx.intercom.conversations[0]!
  const last: { canvas?: unknown } = {}
  const submit = (component: string, extra: Record<string, unknown> = {}, person: Record<string, unknown> = {}) =>
    post(
      t,
      ctx,
      '/canvas/inbox/submit',
      inboxRequest(ctx, { id: contact.id, ...person }, conversation.id, { component_id: component, ...extra }),
      last,
    )
  await post(t, ctx, '/canvas/inbox/initialize', inboxRequest(ctx, { id: contact.id }, conversation.id), last)
  return { ctx, contact, conversation, submit, last }
}

const options = (c: CanvasResponse) => (byId(c, 'macro_id')?.options as Array<{ id: string; text: string }> | undefined) ?? []

t.test("the macros offered are those the teammate may use: everyone's, or one of their teams', in the inbox", async (t) => {
  const { ctx, submit } = await setUp(t)
  const before = ctx.intercom.requests.length
  const picker = await submit('choose_macro')
  const offered = options(picker).map((o) => o.id)
  t.equal(offered[0], 'macro-none', 'a dropdown starts at "Choose a macro"')
  t.ok(offered.includes('macro-789'), "support_team_2's macro: the teammate's team")
  t.ok(offered.includes('macro-890'), "everyone's macro")
  t.notOk(offered.includes('macro-567'), "security_team's macro: Intercom shows it to the token's admin, not the teammate's team")
  t.notOk(offered.includes('macro-456'), 'a sales macro offered in the Messenger only, to teams neither is in')
  t.ok(offered.length <= 10, 'Canvas Kit takes at most 10 options')
  const calls = ctx.intercom.requests.slice(before).map((r) => `${r.method} ${r.path}`)
  t.same(calls.sort(), [`GET /admins/${TEAMMATE}`, 'GET /macros'].sort(), 'read when asked: the teams, then the macros')
  t.ok(
    ctx.intercom.requests.slice(before).every((r) => r.status === 200),
    'each request valid against the 2.16 description',
  )

  ctx.intercom.teammates.set(TEAMMATE, { name: 'Sam Agent', team_ids: [] })
  t.notOk(
    options(await submit('choose_macro')).some((o) => o.id === 'macro-789'),
    'out of the team: no longer offered',
  )
  const found = await submit('macro_search', { input_values: { macro_search: 'thank' } })
  t.same(
    options(found).map((o) => o.text),
    ['Choose a macro', 'Thank You Response'],
    'found by name',
  )
  ctx.intercom.failNext({ status: 503, match: { method: 'GET', path: /^\/macros$/ } })
  const down = await submit('choose_macro')
  t.match(byId(down, 'macros_error')?.text, /Intercom did not list the macros/)
})

t.test('a chosen macro is rendered for this contact; their name is used only when plain, else the fallback', async (t) => {
  const { ctx, submit } = await setUp(t)
  await submit('choose_macro')
  const linked = await submit(
    'insert_macro',
    { input_values: { macro_id: 'macro-789' } },
    { name: 'www.evil.example Bob', custom_attributes: { payment_method: 'Visa card' } },
  )
  t.equal(
    byId(linked, 'sms_body')?.value,
    "Hi there,\n\nI understand you'd like a refund for order #. The refund will be processed within 3-5 business days to your Visa card.\n\nIs there anything else I can help you with?",
    "a lead whose name is a link: the fallback; a plain custom attribute: used; the conversation's: not offered",
  )
  t.match(byId(linked, 'notice')?.text, /Refund Process Explanation/)
  const named = await submit(
    'insert_macro',
    { input_values: { macro_id: 'macro-789' } },
    { name: 'Ana Lima', custom_attributes: { payment_method: 'https://evil.example/pay' } },
  )
  t.match(byId(named, 'sms_body')?.value, /^Hi Ana,\n\n.*to your original payment method\./s, 'a link in an attribute: its fallback')

  ctx.intercom.macros.splice(
    ctx.intercom.macros.findIndex((m) => m.id === '789'),
    1,
  )
  const gone = await submit('insert_macro', { input_values: { macro_id: 'macro-789' } })
  t.match(byId(gone, 'sms_error')?.text, /no longer exists/, 'deleted since the list: said, nothing inserted')
  const hidden = await submit('insert_macro', { input_values: { macro_id: 'macro-567' } })
  t.match(byId(hidden, 'sms_error')?.text, /not visible to your teams/, "another team's macro asked for by id: refused")
})

t.test('Preview: the counter and the price from the Pricing API, then Edit, Preview again and Send', async (t) => {
  const { ctx, submit } = await setUp(t)
  const preview = await submit('preview_sms', { input_values: { sms_body: 'Your refund is on its way 🙂' } })
  t.equal(byId(preview, 'preview_text')?.text, 'Your refund is on its way 🙂')
  const rows = Object.fromEntries(
    (byId(preview, 'preview_counts')?.items as Array<{ field: string; value: string }>).map((r) => [r.field, r.value]),
  )
  t.match(rows, {
    Characters: '27',
    Encoding: /^UCS-2/,
    'UCS-2 because of': '🙂',
    Segments: '1',
    'Sent as': 'SMS',
    'Price per text': '0.0083 USD (US)',
  })
  t.ok(byId(preview, 'send_previewed') && byId(preview, 'edit_sms'), 'Send and Edit')
  t.notOk(byId(preview, 'use_plain'), 'no plain-character version to offer')
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 0, 'a preview sends nothing')

  const edit = await submit('edit_sms')
  t.equal(byId(edit, 'sms_body')?.value, 'Your refund is on its way 🙂', 'Edit: the text back in the box')
  const again = await submit('preview_sms', { input_values: { sms_body: 'Your refund is on its way.' } })
  t.match(byId(again, 'preview_counts')?.items, [
    { field: 'Characters', value: '26' },
    { field: 'Encoding', value: /^GSM-7/ },
  ])
  const sent = await submit('send_previewed')
  t.match(byId(sent, 'notice')?.text, /^Queued: 1 segment \(GSM-7\)/)
  await drain(ctx.app)
  t.same(
    ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => m.body),
    ['Your refund is on its way.'],
    'the edited text',
  )
  const twice = await submit('send_previewed', { current_canvas: again.canvas })
  t.match(JSON.stringify(twice), /already done|out of date/, 'the same Preview sends once')

  const empty = await submit('preview_sms', { input_values: { sms_body: '  ' } })
  t.equal(byId(empty, 'sms_error')?.text, 'Write a message first.', 'Preview checks as Send does')
})

t.test('"Use plain characters": the Preview offers the smart-encoded text when the estimate has one', async (t) => {
  const estimate = {
    characters: 11,
    encoding: 'UCS-2' as const,
    units: 11,
    segments: 1,
    forcedUcs2: ['’'],
    smartEncoded: "It's ready.",
    kind: 'sms' as const,
    price: { perText: '0.0079', unit: 'USD', country: 'US' },
  }
  const view = previewPanel({ kind: 'preview', body: 'It’s ready.', estimate })
  t.ok(canvasResponse.safeParse(view).success, 'a valid canvas')
  const ids = view.canvas.content.components.flatMap((c) => (c.type === 'button' ? [c.id] : []))
  t.same(ids, ['use_plain', 'send_previewed', 'edit_sms'], 'the one-click replacement first, then Send and Edit')
  t.match(JSON.stringify(view), /0\.0079 USD/)
  // The button through the app: the Preview's stored plain text, previewed (and so sendable) in its place.
  const { submit } = await setUp(t)
  const plain = await submit('use_plain', { current_canvas: { stored_data: view.canvas.stored_data } })
  t.equal(byId(plain, 'preview_text')?.text, "It's ready.")
  t.match(byId(plain, 'preview_counts')?.items, [{}, { field: 'Encoding', value: /^GSM-7/ }])
})

const WELCOME_MACRO: Macro = {
  type: 'macro',
  id: '2001',
  name: 'SMS welcome',
  body: null,
  body_text: 'Hi {{user.first_name|fallback:"there"}}, welcome to Acme! Your plan: {{user.custom_attributes.plan|fallback:"free"}}.',
  created_at: '2026-12-01T10:00:00.000Z',
  updated_at: '2026-12-01T10:00:00.000Z',
  visible_to: 'specific_teams',
  visible_to_team_ids: ['support_team_1'],
  available_on: ['inbox'],
}

t.test('the welcome and a Series step may name a macro; one deleted since is skipped with the reason', async (t) => {
  const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'macro:2001', SERIES_WEBHOOK_SECRET: 'series-secret-0123456789' } })
  ctx.intercom.teammates.set(ctx.intercom.admin.id, { name: 'Bridge Admin', team_ids: ['support_team_1'] })
  ctx.intercom.macros.push(structuredClone(WELCOME_MACRO))
  const ana = ctx.intercom.addContact({
    role: 'user',
    external_id: 'crm-1',
    name: 'Ana Lima',
    phone: '+14155550111',
    custom_attributes: { plan: 'Gold' },
  })
  const bob = ctx.intercom.addContact({
    role: 'user',
    external_id: 'crm-2',
    name: '<b>Bob</b>',
    phone: '+14155550112',
    custom_attributes: { plan: 'http://x.example' },
  })
  for (const c of [ana, bob]) await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', c.id))
  await drain(ctx.app)
  t.same(
    ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => m.body),
    ['Hi Ana, welcome to Acme! Your plan: Gold.', 'Hi there, welcome to Acme! Your plan: free.'],
    "rendered at send time; a contact's markup and links give way to the fallbacks",
  )

  // Deleted in Intercom before the next contact arrives: nothing is sent, and the record says why.
  ctx.intercom.macros.splice(
    ctx.intercom.macros.findIndex((m) => m.id === '2001'),
    1,
  )
  const cy = ctx.intercom.addContact({ role: 'user', external_id: 'crm-3', name: 'Cy', phone: '+14155550113' })
  await postIntercomWebhook(ctx, ctx.intercom.contactNotification('contact.user.created', cy.id))
  await drain(ctx.app)
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 2, 'no third text')
  const row = await ctx.app.store.db
    .selectFrom('automated_sends')
    .selectAll()
    .where('key', '=', `welcome:${cy.id}`)
    .executeTakeFirstOrThrow()
  t.match(row, { status: 'skipped', reason: /macro it names was deleted/ })

  const step = (template: string) =>
    ctx.app.inject({
      method: 'POST',
      url: '/intercom/series',
      headers: { 'content-type': 'application/json', 'x-bridge-secret': 'series-secret-0123456789' },
      payload: { contact_id: ana.id, step_id: `s-${template}`, template },
    })
  t.equal((await step('macro:2001')).statusCode, 202, 'a Series step may name a macro')
  t.equal((await step('macro:')).statusCode, 400, 'but not an empty one')
})

t.test('settings: macro:<id> accepted, a malformed one refused; doctor checks the macros named', async (t) => {
  const ctx = await buildTestApp(t, {
    env: { WELCOME_SMS_TEMPLATE: 'macro:123', SMS_TEMPLATES: '{"gone":"macro:999","own":"Hi {{first_name|there}}"}' },
  })
  const valid = {
    PUBLIC_URL: 'https://sms.example.com/',
    TWILIO_ACCOUNT_SID: `AC${'0123456789abcdef'.repeat(2)}`,
    TWILIO_AUTH_TOKEN: 'twilio-secret-value',
    TWILIO_PHONE_NUMBER: '+14155550100',
    INTERCOM_ACCESS_TOKEN: 'intercom-secret-value',
    INTERCOM_CLIENT_SECRET: 'client-secret-value',
  }
  t.ok(loadConfig({ ...valid, WELCOME_SMS_TEMPLATE: 'macro:123', SMS_TEMPLATES: '{"a":"macro:9"}' }, null), 'macro:<id> accepted')
  for (const bad of [{ WELCOME_SMS_TEMPLATE: 'macro:' }, { SMS_TEMPLATES: '{"a":"macro:1 2"}' }]) {
    t.throws(() => loadConfig({ ...valid, ...bad }, null), /expected macro:<id>/, JSON.stringify(bad))
  }
  const lines: Array<[boolean, string]> = []
  await reportMacros(ctx.config, createIntercomClient(ctx.config.intercom), (ok, line) => lines.push([ok, line]))
  t.same(
    lines.map(([ok]) => ok),
    [true, false],
  )
  t.match(lines[0]![1], 'Macro 123 (WELCOME_SMS_TEMPLATE): "Thank You Response".')
  t.match(lines[1]![1], /Macro 999 \(SMS_TEMPLATES.gone\): Intercom has no such macro/)
})
