import t from 'tap'
import { MAX_VALUE } from '../../shared/template.js'
import { buildTestApp, drain, type TestApp } from '../helper.js'
import { connectorToken } from '../../shared/signatures.js'
import { CONNECTOR_PATHS } from '../../server/routes/connectors.js'
import { callConnector } from '../support/connectors.js'

// Attacks on the "Send SMS" data connectors. Fin fills a connector's inputs from what a customer
// typed, and the endpoint is on the public internet: neither may choose who gets a text, nor what
// link it carries, nor get past the token.

const env = { SMS_TEMPLATES: JSON.stringify({ shipped: 'Hi {{first_name|there}}, order {{order|}} has shipped.' }) }

let crm = 0
const teamUser = (ctx: TestApp, phone: string) => ctx.intercom.addContact({ role: 'user', external_id: `atk-${++crm}`, name: 'Ana', phone })
const sent = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api')

t.test("a wrong, missing or other connector's token is refused before the body is read, and noted", async (t) => {
  const ctx = await buildTestApp(t, { env })
  const post = (authorization: string | undefined, url = CONNECTOR_PATHS.workflows) =>
    ctx.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      // Not even JSON: a 400 would mean it was parsed.
      payload: '{"contact_id": ',
    })
  const fin = connectorToken(ctx.config.intercom.clientSecret, 'fin')
  const answers = await Promise.all([
    post(undefined),
    post('Bearer wrong'),
    post(`Bearer ${fin}`),
    post(`Bearer ${connectorToken(ctx.config.intercom.clientSecret, 'workflows')}x`),
    post(`bearer ${fin}`, CONNECTOR_PATHS.fin),
  ])
  t.same(
    answers.map((r) => [r.statusCode, r.json().error.code]),
    Array(5).fill([401, 'bad_token']),
  )
  const noted = ctx.app.refusals.summary()
  t.match(
    noted.find((s) => s.surface === 'workflows_connector'),
    { count: 4 },
  )
  t.match(
    noted.find((s) => s.surface === 'fin_connector'),
    { count: 1 },
  )
  const valid = await ctx.app.inject({
    method: 'POST',
    url: CONNECTOR_PATHS.workflows,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${connectorToken(ctx.config.intercom.clientSecret, 'workflows')}`,
    },
    payload: '{"contact_id": ',
  })
  t.equal(valid.statusCode, 400, 'with the right token the same body is read, and refused as bad JSON')
})

t.test("caps: a connector's texts come out of the outsider budgets; past the cap the team is told in a note", async (t) => {
  const ctx = await buildTestApp(t, { env: { ...env, CAP_TEXTS_PER_NUMBER_DAY: '1' } })
  const ana = teamUser(ctx, '+14155550175')
  const conversation = ctx.intercom.addConversation(ana.id, 'hi')
  for (const order of ['1', '2']) {
    const res = await callConnector(ctx, 'fin', {
      template: 'shipped',
      variables: `order=${order}`,
      contact_id: ana.id,
      conversation_id: conversation.id,
    })
    t.same(res.json(), { result: 'sent' }, 'accepted for sending')
  }
  await drain(ctx.app)
  t.equal(sent(ctx).length, 1)
  t.match(ctx.intercom.conversation(conversation.id)!.parts.at(-1), { part_type: 'note', body: /Fin text not sent:.*daily limit of 1/ })
})

t.test("the recipient is the contact's own trusted number whatever the inputs say", async (t) => {
  const ctx = await buildTestApp(t, { env })
  const ana = teamUser(ctx, '+14155550171')
  const victim = teamUser(ctx, '+14155550172')
  const conversation = ctx.intercom.addConversation(ana.id, 'hi')
  const base = { template: 'shipped', contact_id: ana.id, conversation_id: conversation.id }

  // Extra fields naming a number are not inputs at all.
  const extra = await callConnector(ctx, 'fin', { ...base, phone: '+14155550199', to: '+14155550199', recipient: '+14155550199' })
  t.same(extra.json(), { result: 'sent' })
  // A value pasted into the body template unescaped, adding a contact_id of its own: refused.
  const injected = `{"template":"shipped","variables":"order=1", "contact_id":"${victim.id}", "x":"","contact_id":"${ana.id}","conversation_id":"${conversation.id}"}`
  const refused = await callConnector(ctx, 'fin', injected)
  t.equal(refused.statusCode, 400)
  t.match(refused.json(), { error: { code: 'invalid_request', message: /contact_id: given more than once/ } })
  // Fin told another contact's id (the customer typed it): not a contact of this conversation.
  const other = await callConnector(ctx, 'fin', { ...base, contact_id: victim.id })
  t.same(other.json(), { result: 'refused', reason: 'not_in_conversation' })
  // ... nor their old conversation's id with it: Fin acts in a conversation going on now.
  const old = ctx.intercom.addConversation(victim.id, 'hello', Date.now() - 3 * 3_600_000)
  const stale = await callConnector(ctx, 'fin', { ...base, contact_id: victim.id, conversation_id: old.id })
  t.same(stale.json(), { result: 'refused', reason: 'not_in_conversation' })
  // A lead's own phone (set from the browser) is never texted by a connector.
  const lead = ctx.intercom.addContact({ role: 'lead', phone: '+14155550173' })
  const leadConversation = ctx.intercom.addConversation(lead.id, 'text me at this number')
  const claimed = await callConnector(ctx, 'fin', { ...base, contact_id: lead.id, conversation_id: leadConversation.id })
  t.same(claimed.json(), { result: 'refused', reason: 'untrusted_number' })

  await drain(ctx.app)
  t.same(
    sent(ctx).map((m) => m.to),
    ['+14155550171'],
    'one text, to the contact of the conversation',
  )
})

t.test('a variable with a link, an address or markup is not texted', async (t) => {
  // Every value is its own run, all to one number: the day caps raised for the count.
  const ctx = await buildTestApp(t, { env: { ...env, CAP_TEXTS_PER_NUMBER_DAY: '20', CAP_TEXTS_PER_CONTACT_DAY: '20' } })
  const ana = teamUser(ctx, '+14155550174')
  const conversation = ctx.intercom.addConversation(ana.id, 'hi')
  const values = ['https://evil.example/x', 'bit.ly/win', 'www.evil', 'win@evil.example', '<b>x</b>', 'evil.com', 'x'.repeat(MAX_VALUE + 1)]
  for (const order of values) {
    const res = await callConnector(ctx, 'fin', {
      template: 'shipped',
      variables: `order=${order}`,
      contact_id: ana.id,
      conversation_id: conversation.id,
    })
    t.same(res.json(), { result: 'sent' }, order)
  }
  await drain(ctx.app)
  const bodies = sent(ctx).map((m) => m.body)
  t.equal(bodies.length, values.length)
  for (const body of bodies) t.equal(body, 'Hi Ana, order has shipped.', 'the value left out, the fallback used')
  const fine = await callConnector(ctx, 'fin', {
    template: 'shipped',
    variables: 'order=A-77',
    contact_id: ana.id,
    conversation_id: conversation.id,
  })
  t.same(fine.json(), { result: 'sent' })
  await drain(ctx.app)
  t.equal(sent(ctx).at(-1)?.body, 'Hi Ana, order A-77 has shipped.')
})
