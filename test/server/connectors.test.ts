import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildTestApp, drain, type TestApp } from '../helper.js'
import { connectorToken } from '../../shared/signatures.js'
import { createClients } from '../../server/clients/index.js'
import { runSetup } from '../../server/ops/setup.js'
import { runDoctor } from '../../server/ops/doctor.js'
import { CONNECTOR_NAMES, connectorSpec } from '../../server/ops/connectors.js'
import { callConnector } from '../support/connectors.js'

const TEMPLATES = JSON.stringify({
  shipped: 'Hi {{first_name|there}}, order {{order|}} has shipped.',
  promo: 'Hi {{first_name|there}}: 20% off today.',
})
const env = { SMS_TEMPLATES: TEMPLATES }

let crm = 0
const teamUser = (ctx: TestApp, phone: string, name = 'Ana Lima') =>
  ctx.intercom.addContact({ role: 'user', external_id: `crm-${++crm}`, name, phone })
const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')

const connectorsNamed = (ctx: TestApp) =>
  ctx.intercom.dataConnectors.connectors.filter((c) => Object.values(CONNECTOR_NAMES).includes(c.name))

t.test('setup creates both connectors live, a second run changes nothing, a changed one is updated, never duplicated', async (t) => {
  const ctx = await buildTestApp(t, { env })
  const clients = createClients(ctx.config)
  const dry = await runSetup(ctx.config, clients, true)
  t.match(dry.map((r) => r.line).join('\n'), `the data connector "${CONNECTOR_NAMES.workflows}": would create it and set it live`)
  t.equal(connectorsNamed(ctx).length, 0, 'a dry run creates nothing')

  const first = await runSetup(ctx.config, clients, false)
  const connectorLines = first.filter((r) => r.line.includes('data connector'))
  t.equal(connectorLines.length, 2)
  t.ok(
    connectorLines.every((r) => r.ok && r.changed),
    first.map((r) => r.line).join('\n'),
  )
  const made = connectorsNamed(ctx)
  t.same(
    made.map((c) => [c.name, c.state, c.direct_fin_usage]),
    [
      [CONNECTOR_NAMES.workflows, 'live', false],
      [CONNECTOR_NAMES.fin, 'live', true],
    ],
  )
  const workflows = made[0]!
  t.equal(workflows.url, `${ctx.config.publicUrl}/connectors/workflows/sms`)
  t.same(
    workflows.headers.find((h) => h.name === 'Authorization')?.value,
    `Bearer ${connectorToken(ctx.config.intercom.clientSecret, 'workflows')}`,
  )
  t.same(
    (workflows.data_inputs as Array<{ name: string }>).map((i) => i.name),
    ['template', 'variables', 'step', 'purpose', 'contact_id', 'conversation_id'],
  )
  const creates = ctx.intercom.requests.filter((r) => r.method === 'POST' && r.path === '/data_connectors')
  t.equal(creates.length, 2)
  t.ok(
    creates.every((r) => r.status === 201),
    'each create passed the 2.16 description check',
  )

  const writes = () => ctx.intercom.requests.filter((r) => r.path.startsWith('/data_connectors') && r.method !== 'GET').length
  const before = writes()
  const second = await runSetup(ctx.config, clients, false)
  t.equal(writes(), before, 'nothing to change')
  t.match(second.map((r) => r.line).join('\n'), 'is live and up to date')

  // Someone edits the Workflows connector in Intercom and sets it to draft.
  Object.assign(workflows, { url: 'https://elsewhere.example.com/x', state: 'draft' })
  const third = await runSetup(ctx.config, clients, false)
  t.match(third.map((r) => r.line).join('\n'), /updated URL, state/)
  t.equal(connectorsNamed(ctx).length, 2, 'updated, not duplicated')
  t.match(workflows, { url: `${ctx.config.publicUrl}/connectors/workflows/sms`, state: 'live' })
  t.ok(
    ctx.intercom.dataConnectors.connectors.some((c) => c.name === 'Order Status Service'),
    "the workspace's other connector is left alone",
  )
})

t.test('the spec examples: the stand-in answers the shapes the description gives, and refuses what it does not', async (t) => {
  const ctx = await buildTestApp(t, { env })
  const examples = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'fixtures', 'real', 'intercom', 'api', 'data-connectors-spec-2.16.json'), 'utf8'),
  ) as { createRequest: unknown; detail: { id: string; name: string } }
  const call = (method: string, path: string, body?: unknown, version = '2.16') =>
    fetch(`${ctx.intercom.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ctx.intercom.token}`, 'intercom-version': version, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const created = await call('POST', '/data_connectors', examples.createRequest)
  t.equal(created.status, 201)
  t.match(await created.json(), { type: 'data_connector', state: 'draft', headers: [{ name: 'Content-Type', value: '****' }] })
  t.match(await (await call('GET', `/data_connectors/${examples.detail.id}`)).json(), { name: examples.detail.name })
  t.equal((await call('POST', '/data_connectors', { name: 'x', audiences: ['robots'] })).status, 400, 'audiences outside the enum')
  t.equal((await call('PATCH', '/data_connectors/12345', { state: 'paused' })).status, 400, 'a state outside the enum')
  t.equal((await call('GET', '/data_connectors', undefined, '2.14')).status, 404, 'not in 2.14')
})

t.test('a Workflow texts the contact on their trusted number, recorded in the conversation it runs in', async (t) => {
  const ctx = await buildTestApp(t, { env })
  const ana = teamUser(ctx, '+14155550161')
  const conversation = ctx.intercom.addConversation(ana.id, 'Where is my order?')
  const res = await callConnector(ctx, 'workflows', {
    template: 'shipped',
    variables: 'order=A-1042',
    purpose: 'transactional',
    contact_id: ana.id,
    conversation_id: conversation.id,
  })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json(), { result: 'sent' })
  await drain(ctx.app)
  t.same(
    sent(ctx).map((m) => [m.to, m.body]),
    [['+14155550161', 'Hi Ana, order A-1042 has shipped.']],
  )
  const sms = await ctx.app.store.db
    .selectFrom('sms_conversations')
    .selectAll()
    .where('intercom_contact_id', '=', ana.id)
    .executeTakeFirst()
  t.equal(sms?.intercom_conversation_id, conversation.id, 'the conversation it ran in became the SMS conversation')
  t.equal(ctx.intercom.conversations.length, 1, 'nothing new opened')
  t.match(ctx.intercom.conversation(conversation.id)!.parts.at(-1), { part_type: 'note', body: /Workflow text sent by SMS/ })
})

t.test('a redelivered run answers the first answer and texts once', async (t) => {
  const ctx = await buildTestApp(t, { env })
  const ana = teamUser(ctx, '+14155550162')
  const conversation = ctx.intercom.addConversation(ana.id, 'hi')
  const body = { template: 'promo', purpose: 'marketing', contact_id: ana.id, conversation_id: conversation.id }
  const answers = await Promise.all([callConnector(ctx, 'workflows', body), callConnector(ctx, 'workflows', body)])
  await drain(ctx.app)
  // Opted out since: the retry still answers what the first delivery did, and nothing more is sent.
  await ctx.app.store.db
    .insertInto('consent')
    .values({ phone: '+14155550162', state: 'opted_out', source: 'keyword', changed_at: Date.now() })
    .execute()
  const later = await callConnector(ctx, 'workflows', body)
  await drain(ctx.app)
  t.same(
    [...answers, later].map((r) => r.json()),
    [{ result: 'sent' }, { result: 'sent' }, { result: 'sent' }],
  )
  t.equal(sent(ctx).length, 1, 'one text')
  const other = await callConnector(ctx, 'workflows', { ...body, step: 'reminder' })
  t.same(other.json(), { result: 'refused', reason: 'opted_out' }, 'another step is another run')
})

t.test("refusals a Workflow can branch on: opted out, Fin and marketing, unknown template, a lead's own number", async (t) => {
  const ctx = await buildTestApp(t, { env })
  const out = teamUser(ctx, '+14155550163')
  await ctx.app.store.db
    .insertInto('consent')
    .values({ phone: '+14155550163', state: 'opted_out', source: 'keyword', changed_at: Date.now() })
    .execute()
  const c1 = ctx.intercom.addConversation(out.id, 'hi')
  const r1 = await callConnector(ctx, 'workflows', { template: 'promo', purpose: 'marketing', contact_id: out.id, conversation_id: c1.id })
  t.same(r1.json(), { result: 'refused', reason: 'opted_out' })

  const ana = teamUser(ctx, '+14155550164')
  const c2 = ctx.intercom.addConversation(ana.id, 'hi')
  const fin = await callConnector(ctx, 'fin', { template: 'promo', purpose: 'marketing', contact_id: ana.id, conversation_id: c2.id })
  t.same(fin.json(), { result: 'refused', reason: 'purpose_not_allowed' }, 'Fin may send transactional texts only')
  const unknown = await callConnector(ctx, 'fin', { template: 'nope', contact_id: ana.id, conversation_id: c2.id })
  t.same(unknown.json(), { result: 'refused', reason: 'unknown_template' })
  const macro = await callConnector(ctx, 'fin', { template: 'macro:999999', contact_id: ana.id, conversation_id: c2.id })
  t.same(macro.json(), { result: 'refused', reason: 'macro_unavailable' })

  const lead = ctx.intercom.addContact({ role: 'lead', phone: '+14155550165' })
  const c3 = ctx.intercom.addConversation(lead.id, 'hi')
  const untrusted = await callConnector(ctx, 'workflows', {
    template: 'promo',
    purpose: 'marketing',
    contact_id: lead.id,
    conversation_id: c3.id,
  })
  t.same(untrusted.json(), { result: 'refused', reason: 'untrusted_number' })
  await drain(ctx.app)
  t.equal(sent(ctx).length, 0)
  t.equal(
    ctx.intercom.requests.filter((r) => r.path === '/conversations' && r.method === 'POST').length,
    0,
    'no conversation opened for a refusal',
  )
})

t.test('quiet hours: scheduled, with the time, and sent when they end', async (t) => {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16)
  const now = Date.now()
  const ctx = await buildTestApp(t, {
    env: { ...env, QUIET_HOURS: `${hhmm(now - 3_600_000)}-${hhmm(now + 3_600_000)}`, QUIET_HOURS_TIMEZONE: 'UTC' },
  })
  const ana = teamUser(ctx, '+14155550166')
  const conversation = ctx.intercom.addConversation(ana.id, 'hi')
  const res = await callConnector(ctx, 'fin', { template: 'shipped', contact_id: ana.id, conversation_id: conversation.id })
  const answer = res.json()
  t.equal(answer.result, 'scheduled')
  t.ok(Math.abs(Date.parse(answer.send_at) - (now + 3_600_000)) < 120_000, 'when the window ends')
  const job = await ctx.app.store.db.selectFrom('jobs').selectAll().where('task', '=', 'automated.send').executeTakeFirstOrThrow()
  t.ok(job, 'queued')
  t.equal(sent(ctx).length, 0)
})

t.test(
  "a contact with no conversation: one is opened for the text, once, with the bridge's marker, and the text noted in it",
  async (t) => {
    const ctx = await buildTestApp(t, { env })
    const ana = teamUser(ctx, '+14155550167')
    const res = await callConnector(ctx, 'workflows', { template: 'shipped', purpose: 'transactional', contact_id: ana.id })
    t.same(res.json(), { result: 'sent' })
    await callConnector(ctx, 'workflows', { template: 'promo', purpose: 'marketing', contact_id: ana.id })
    await drain(ctx.app)
    t.equal(sent(ctx).length, 2)
    t.equal(ctx.intercom.conversations.length, 1, 'one conversation for both texts')
    const opened = ctx.intercom.conversations[0]!
    t.match(opened.source.body, /^\[SMS\] Text messages with .*opened by the SMS bridge/, "the opening is the bridge's marker")
    t.notMatch(opened.source.body, /shipped|20% off/, "never our text in the customer's mouth")
    t.notMatch(opened.source.body, /4155550167/, 'the number masked')
    t.same(
      opened.parts.map((p) => [p.part_type, /Workflow text sent by SMS/.test(p.body ?? '')]),
      [
        ['note', true],
        ['note', true],
      ],
    )
  },
)

t.test('doctor reports failing executions of the bridge connectors, without secrets', async (t) => {
  const ctx = await buildTestApp(t, { env })
  await runSetup(ctx.config, createClients(ctx.config), false)
  const [workflows] = connectorsNamed(ctx)
  const at = (ago: number) => new Date(Date.now() - ago).toISOString()
  for (const ago of [7_200_000, 600_000])
    ctx.intercom.dataConnectors.addExecution({
      data_connector_id: workflows!.id,
      success: false,
      http_status: 401,
      http_method: 'post',
      error_type: '3rd_party_error',
      error_message: 'bad_token for +14155550199',
      source_type: 'workflow',
      created_at: at(ago),
    })
  ctx.intercom.dataConnectors.addExecution({ data_connector_id: workflows!.id, success: true, http_status: 200, created_at: at(60_000) })
  const lines = (await runDoctor(ctx.config, ctx.app.store, createClients(ctx.config))).filter((r) => /Data connector/.test(r.line))
  t.match(lines[0], {
    ok: false,
    line: /Send SMS \(SMS bridge\)": 2 failed execution\(s\) in the last 24 h; the last at .*3rd_party_error, HTTP 401/,
  })
  t.notMatch(lines[0]!.line, /4155550199/, 'numbers masked')
  t.notMatch(lines[0]!.line, new RegExp(connectorToken(ctx.config.intercom.clientSecret, 'workflows')), 'no token')
  t.match(lines[1], { ok: true, line: /for Fin .*no failed execution/ })
  t.ok(connectorSpec(ctx.config, 'workflows').description.includes('key '), 'the description carries only a fingerprint')
})

t.test("a macro as the connector's template: its words rendered with the contact's name and the run's variables", async (t) => {
  const ctx = await buildTestApp(t, { env })
  ctx.intercom.macros.push({
    type: 'macro',
    id: '3001',
    name: 'Order shipped (SMS)',
    body: null,
    body_text: 'Hi {{user.first_name|fallback:"there"}}, order {{order|fallback:"yours"}} has shipped.',
    created_at: '2026-12-01T10:00:00.000Z',
    updated_at: '2026-12-01T10:00:00.000Z',
    visible_to: 'everyone',
    visible_to_team_ids: [],
    available_on: ['inbox'],
  })
  const ana = teamUser(ctx, '+14155550166')
  const conversation = ctx.intercom.addConversation(ana.id, 'where is my order?')
  const res = await callConnector(ctx, 'workflows', {
    template: 'macro:3001',
    purpose: 'transactional',
    variables: 'order=A-1042',
    contact_id: ana.id,
    conversation_id: conversation.id,
  })
  t.same(res.json(), { result: 'sent' })
  await drain(ctx.app)
  t.same(
    sent(ctx).map((m) => m.body),
    ['Hi Ana, order A-1042 has shipped.'],
  )
})
