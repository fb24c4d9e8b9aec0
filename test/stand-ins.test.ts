import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { startLibsqlServerStandIn } from '../sandbox/libsql-server.js'
import { tempDir } from './support/db.js'
import t, { type Test } from 'tap'
import twilio from 'twilio'
import { IntercomClient, IntercomError } from 'intercom-client'
import { startIntercomStandIn } from '../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../sandbox/twilio/index.js'

async function rejectsWith(t: Test, promise: Promise<unknown>, fields: Record<string, unknown>, message = 'fails as the real API does') {
  await promise.then(
    () => t.fail(`expected a failure with ${JSON.stringify(fields)}`),
    (err) => t.match(err, fields, message),
  )
}

// The stand-ins are only worth something if they hold the bridge to the real APIs' rules: these tests
// drive them through the official SDKs, as the bridge does.

t.test('Twilio stand-in: auth, request shapes, state and faults through the twilio SDK', async (t) => {
  const fake = await startTwilioStandIn()
  t.teardown(() => fake.close())
  const client = twilio(fake.accountSid, fake.authToken, { autoRetry: false })
  client.api.baseUrl = fake.url

  const sent = await client.messages.create({
    to: '+14155550123',
    from: '+14155550100',
    body: 'Hello 👋',
    statusCallback: 'https://x.example/twilio/status',
  })
  t.match(sent.sid, /^SM[0-9a-f]{32}$/)
  t.equal(sent.status, 'queued')
  t.equal(sent.numSegments, '1')
  t.equal(fake.messages.length, 1)
  t.equal(fake.requests[0]?.headers.authorization?.startsWith('Basic '), true)

  const wrong = twilio(fake.accountSid, 'not-the-token', { autoRetry: false })
  wrong.api.baseUrl = fake.url
  await rejectsWith(t, wrong.messages.create({ to: '+14155550123', from: '+14155550100', body: 'x' }), { status: 401, code: 20003 })

  await rejectsWith(t, client.messages.create({ to: '+14155550123', body: 'no sender' }), { status: 400, code: 21603 })
  fake.rejectRecipient('+14155550999', 21610)
  await rejectsWith(t, client.messages.create({ to: '+14155550999', from: '+14155550100', body: 'x' }), { status: 400, code: 21610 })

  fake.failNext({ status: 500, afterAccept: true, match: { method: 'POST' } })
  await rejectsWith(t, client.messages.create({ to: '+14155550124', from: '+14155550100', body: 'accepted' }), { status: 500 })
  t.equal(fake.messages.filter((m) => m.to === '+14155550124').length, 1, 'created although the answer was a 500')

  fake.failNext({ status: 429, headers: { 'retry-after': '1' } })
  await rejectsWith(t, client.messages.create({ to: '+14155550125', from: '+14155550100', body: 'x' }), { status: 429 })

  const inbound = fake.addInboundMessage({
    from: '+14155550123',
    to: '+14155550100',
    body: 'pic',
    media: [{ contentType: 'image/png', data: Buffer.from('png!') }],
  })
  const listed = await client.messages.list({ to: '+14155550100', dateSentAfter: new Date(Date.now() - 60_000) })
  t.same(
    listed.map((m) => m.sid),
    [inbound.sid],
    'filters by recipient and date',
  )
  const media = await client.messages(inbound.sid).media.list()
  t.equal(media[0]?.contentType, 'image/png')
  const file = await fetch(fake.mediaUrl(inbound, 0))
  t.equal(file.status, 401, 'media needs the credentials')
  const authed = await fetch(fake.mediaUrl(inbound, 0), {
    headers: { authorization: `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}` },
  })
  t.equal(await authed.text(), 'png!')
})

t.test('Intercom stand-in: auth, version, request shapes and behaviour through intercom-client', async (t) => {
  const fake = await startIntercomStandIn()
  t.teardown(() => fake.close())
  const client = new IntercomClient({ token: fake.token, baseUrl: fake.url, version: '2.14', maxRetries: 0 })

  const bad = new IntercomClient({ token: 'nope', baseUrl: fake.url, maxRetries: 0 })
  await rejectsWith(t, bad.admins.identify(), { statusCode: 401 })
  const me = await client.admins.identify()
  t.equal(me?.id, fake.admin.id)
  t.equal(fake.requests.at(-1)?.headers['intercom-version'], '2.14')

  const lead = await client.contacts.create({ role: 'lead', phone: '+14155550123' })
  t.equal(lead.role, 'lead')
  await rejectsWith(t, client.contacts.create({ role: 'user', phone: '+1' }), { statusCode: 400 }, 'a user needs email or external_id')
  const user = await client.contacts.create({ role: 'user', email: 'a@example.com', phone: '(415) 555-0123' })
  try {
    await client.contacts.create({ role: 'user', email: 'a@example.com' })
    t.fail('duplicate email accepted')
  } catch (err) {
    t.equal((err as IntercomError).statusCode, 409)
    t.match(JSON.stringify((err as IntercomError).body), `already exists with id=${user.id}`)
  }

  const found = await client.contacts.search({
    query: {
      operator: 'OR',
      value: [
        { field: 'phone', operator: '=', value: '+14155550123' },
        { field: 'phone', operator: '=', value: '(415) 555-0123' },
      ],
    },
    pagination: { per_page: 50 },
  })
  t.same(found.data.map((c) => c.id).sort(), [lead.id, user.id].sort())

  const message = await client.conversations.create({ from: { type: 'lead', id: lead.id }, body: 'first <b>text</b>' })
  const conversationId = message.conversation_id
  t.equal(fake.conversation(conversationId)?.source.body, 'first <b>text</b>')
  await rejectsWith(
    t,
    client.conversations.reply({ conversation_id: conversationId, body: { type: 'user', intercom_user_id: lead.id, body: 'x' } as never }),
    { statusCode: 400 },
    'a reply without message_type does not match the reference',
  )
  fake.closeConversation(conversationId)
  await client.conversations.reply({
    conversation_id: conversationId,
    body: { message_type: 'note', type: 'admin', admin_id: fake.admin.id, body: '<p>note</p>' },
  })
  t.equal(fake.conversation(conversationId)?.state, 'closed', 'a note does not reopen')
  await client.conversations.reply({
    conversation_id: conversationId,
    body: { message_type: 'comment', type: 'user', intercom_user_id: lead.id, body: 'again' },
  })
  t.equal(fake.conversation(conversationId)?.state, 'open', 'a customer reply reopens')

  const tag = await client.tags.create({ name: 'sms' })
  const same = await client.tags.create({ name: 'sms' })
  t.equal(same.id, tag.id, 'tags are found or created by name')
  await client.tags.tagConversation({ conversation_id: conversationId, id: tag.id, admin_id: fake.admin.id })
  t.same(
    fake.conversation(conversationId)?.tags.map((x) => x.name),
    ['sms'],
  )

  await rejectsWith(
    t,
    client.contacts.update({ contact_id: lead.id, custom_attributes: { sms_opted_out: true } }),
    { statusCode: 400 },
    'unknown attribute',
  )
  fake.failNext({ status: 429 })
  try {
    await client.tags.list()
    t.fail('no 429')
  } catch (err) {
    t.equal((err as IntercomError).statusCode, 429)
    t.equal((err as IntercomError).rawResponse?.headers.get('x-ratelimit-remaining'), '0')
    t.ok(Number((err as IntercomError).rawResponse?.headers.get('x-ratelimit-reset')) > Date.now() / 1000 - 1)
  }
})

t.test('libSQL server stand-in: token checked, transactions across requests, abandoned streams expire', async (t) => {
  const server = await startLibsqlServerStandIn({ path: join(tempDir(t), 'server.db'), streamExpiryMs: 200 })
  t.teardown(() => server.close())
  const client = createClient({ url: server.url, authToken: server.authToken })
  t.teardown(() => client.close())
  await client.execute('create table t (v)')

  const tx = await client.transaction('write')
  await tx.execute({ sql: 'insert into t values (?)', args: [1] })
  t.same((await client.execute('select count(*) as n from t')).rows[0]?.n, 0, 'an open transaction is not seen from another stream')
  // The client holding it goes away without a word; the server closes its stream and rolls it back.
  await new Promise((resolve) => setTimeout(resolve, 600))
  const next = await client.transaction('write')
  await next.execute({ sql: 'insert into t values (?)', args: [2] })
  await next.commit()
  t.same(
    (await client.execute('select v from t')).rows.map((r) => r.v),
    [2],
    'the abandoned write was rolled back, the lock freed',
  )

  const stranger = createClient({ url: server.url, authToken: 'not-the-token' })
  t.teardown(() => stranger.close())
  await t.rejects(stranger.execute('select 1'), /Unauthorized/)
})
