// Issue 25, point 4: a lead the bridge made for a number is merged into a user in Intercom (the
// customer who texted later signed up), and nobody tells the bridge. Intercom 2.16 answers the old id
// with 410 Gone and a Link to the survivor; 2.14 answers 404. Replies, the next text and attribute
// updates must follow the merge through the real app, on both versions.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { IntercomClient } from 'intercom-client'
import { startIntercomStandIn } from '../../../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../../../sandbox/twilio/index.js'
import { markUnmarkedLinks } from '../../../server/bridge/links.js'
import { MARK_ATTRIBUTE, phoneMark } from '../../../server/bridge/trust.js'
import { createTwilioClient } from '../../../server/clients/twilio.js'
import type { Teardown } from '../../support/db.js'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, postStatus, type TestApp } from '../../helper.js'

const CUSTOMER = '+14155550123'
const VERSIONS = ['2.16', '2.14'] as const
type Version = (typeof VERSIONS)[number]

/**
 * The real app, speaking `version` to the Intercom stand-in whatever the bridge's own default is:
 * intercom-client 7 types versions up to 2.14 only, so the header is set on the way out.
 */
async function appSpeaking(t: Teardown, version: Version): Promise<TestApp> {
  const twilio = await startTwilioStandIn()
  const intercom = await startIntercomStandIn()
  t.teardown(() => twilio.close())
  t.teardown(() => intercom.close())
  const speak: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers)
    headers.set('Intercom-Version', version)
    return fetch(input, { ...init, headers })
  }
  const clients = {
    twilio: createTwilioClient({ accountSid: twilio.accountSid, authToken: twilio.authToken, apiBaseUrl: twilio.url }),
    intercom: new IntercomClient({ fetch: speak, token: intercom.token, baseUrl: intercom.url, maxRetries: 0, timeoutInSeconds: 10 }),
  }
  return buildTestApp(t, { standIns: { twilio, intercom }, build: { clients } })
}

const link = (ctx: TestApp) => ctx.app.store.db.selectFrom('phone_contacts').selectAll().where('phone', '=', CUSTOMER).executeTakeFirst()
const deadJobs = (ctx: TestApp) => ctx.app.store.db.selectFrom('jobs').select(['task', 'last_error']).where('state', '=', 'dead').execute()
const textsToCustomer = (ctx: TestApp) => ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === CUSTOMER)
const comments = (ctx: TestApp, conversationId: string) =>
  ctx.intercom.conversation(conversationId)!.parts.filter((p) => p.part_type === 'comment')
const notes = (ctx: TestApp, conversationId: string) =>
  ctx.intercom
    .conversation(conversationId)!
    .parts.filter((p) => p.part_type === 'note')
    .map((p) => p.body ?? '')
/** How Intercom answered requests naming the old id, since request `from`. */
const answersFor = (ctx: TestApp, contactId: string, from: number) =>
  ctx.intercom
    .callsSince(from)
    .filter((r) => r.path === `/contacts/${contactId}`)
    .map((r) => `${r.method} ${r.status}`)

async function texts(ctx: TestApp, body: string) {
  const res = await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: body }))
  t.equal(res.statusCode, 200)
  await drain(ctx.app)
}

async function teammateReplies(ctx: TestApp, conversationId: string, body: string) {
  const part = ctx.intercom.addAdminReply(conversationId, { body: `<p>${body}</p>` })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', conversationId, [part]))
  await drain(ctx.app)
}

/** The customer texted (a lead of the bridge's own, marked, one conversation), then signed up: Intercom merges the lead into the user. */
async function textedThenMerged(ctx: TestApp) {
  await texts(ctx, 'Hi, where is my order?')
  const lead = ctx.intercom.contacts[0]!
  const conversation = ctx.intercom.conversations[0]!
  await teammateReplies(ctx, conversation.id, 'It ships today.')
  const user = ctx.intercom.addContact({ role: 'user', email: 'ana@example.com', name: 'Ana', external_id: 'u-1' })
  ctx.intercom.mergeContacts(lead.id, user.id)
  return { lead, user, conversation }
}

for (const version of VERSIONS) {
  const gone = version === '2.16' ? 410 : 404

  t.test(`${version}: the next text and the teammate's replies follow a merge done in Intercom`, async (t) => {
    const ctx = await appSpeaking(t, version)
    const { lead, user, conversation } = await textedThenMerged(ctx)
    t.equal(ctx.intercom.requests.at(-1)?.headers['intercom-version'], version)

    const before = ctx.intercom.requests.length
    await texts(ctx, 'I just signed up')
    t.ok(answersFor(ctx, lead.id, before).includes(`GET ${gone}`), `the old id answered ${gone}`)
    t.same(await deadJobs(ctx), [], 'nothing dead: the text was not lost')
    t.same(
      ctx.intercom.contacts.map((c) => c.id),
      [user.id],
      'no new lead: the survivor alone',
    )
    t.equal(ctx.intercom.conversations.length, 1, 'no new conversation')
    t.match(
      comments(ctx, conversation.id).at(-1),
      { author: { id: user.id }, body: /I just signed up/ },
      "threaded to the survivor's conversation, as the survivor",
    )
    t.match(
      await link(ctx),
      { intercom_contact_id: user.id, contact_role: 'user', source: 'merged', created_by_bridge: 0 },
      'the link moved, recorded as a merge',
    )
    const sms = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().execute()
    t.match(sms, [{ intercom_contact_id: user.id, intercom_conversation_id: conversation.id }], "the SMS conversation is the survivor's")
    t.equal(user.custom_attributes[MARK_ATTRIBUTE], phoneMark(ctx.config, user.id, CUSTOMER), "the survivor carries the bridge's mark")
    t.match(notes(ctx, conversation.id).join('\n'), /merged this conversation's contact into/, 'the team is told')

    await teammateReplies(ctx, conversation.id, 'Welcome aboard!')
    t.equal(textsToCustomer(ctx).at(-1)?.body, 'Welcome aboard!', "the teammate's reply reaches the phone")
    const after = ctx.intercom.requests.length
    await texts(ctx, 'Thanks!')
    t.same(answersFor(ctx, lead.id, after), [], 'the old id is not asked again')
    t.match(comments(ctx, conversation.id).at(-1), { author: { id: user.id }, body: /Thanks!/ })
    t.same(
      ctx.intercom.contacts.map((c) => c.id),
      [user.id],
    )
    t.same(await deadJobs(ctx), [])
  })

  t.test(`${version}: a mark job and a status update for the merged id follow the merge`, async (t) => {
    const ctx = await appSpeaking(t, version)
    const { lead, user } = await textedThenMerged(ctx)
    const reply = textsToCustomer(ctx).at(-1)!
    // The daily pass finds the link's mark missing (as after a restore): its job still names the old id.
    await ctx.app.store.transaction((trx) => trx.updateTable('phone_contacts').set({ marked_at: null }).execute())
    const before = ctx.intercom.requests.length
    t.equal(await markUnmarkedLinks({ store: ctx.app.store }, ctx.app.bridge.clock.now()), 1)
    ctx.app.worker.wake()
    await drain(ctx.app)
    t.ok(answersFor(ctx, lead.id, before).includes(`PUT ${gone}`), `the mark for the old id answered ${gone}`)
    t.same(await deadJobs(ctx), [], 'the mark job did not die')
    t.match(await link(ctx), { intercom_contact_id: user.id, source: 'merged' })
    t.ok((await link(ctx))?.marked_at, 'the moved link is marked')
    t.equal(user.custom_attributes[MARK_ATTRIBUTE], phoneMark(ctx.config, user.id, CUSTOMER), 'the survivor carries the mark')

    // Twilio reports the reply delivered: last_sms_status lands on the survivor.
    t.equal((await postStatus(ctx, { MessageSid: reply.sid, MessageStatus: 'delivered' })).statusCode, 204)
    await drain(ctx.app)
    t.equal(user.custom_attributes.last_sms_status, 'delivered')
    t.same(await deadJobs(ctx), [])
  })

  t.test(`${version}: a status update is the first to meet the merge: the attribute lands on the survivor`, async (t) => {
    const ctx = await appSpeaking(t, version)
    const { lead, user, conversation } = await textedThenMerged(ctx)
    const reply = textsToCustomer(ctx).at(-1)!
    const before = ctx.intercom.requests.length
    t.equal((await postStatus(ctx, { MessageSid: reply.sid, MessageStatus: 'delivered' })).statusCode, 204)
    await drain(ctx.app)
    t.ok(answersFor(ctx, lead.id, before).includes(`PUT ${gone}`), `the update for the old id answered ${gone}`)
    t.same(await deadJobs(ctx), [], 'the attribute update did not die')
    t.match(user.custom_attributes, { last_sms_sid: reply.sid, last_sms_status: 'delivered' })
    t.match(await link(ctx), { intercom_contact_id: user.id, source: 'merged' })
    t.equal(user.custom_attributes[MARK_ATTRIBUTE], phoneMark(ctx.config, user.id, CUSTOMER))
    await texts(ctx, 'Got it')
    t.match(comments(ctx, conversation.id).at(-1), { author: { id: user.id }, body: /Got it/ })
    t.same(
      ctx.intercom.contacts.map((c) => c.id),
      [user.id],
      'no new lead: the survivor alone',
    )
  })
}

t.test("the 2.16 description's 410 for a merged contact, replayed: the Link is followed", async (t) => {
  const fixture = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'real', 'intercom', 'api', 'contact-merged-410-spec-2.16.json'), 'utf8'),
  )
  // A 2.14 workspace, where the stand-in itself would answer 404: the captured answer is what Intercom says instead.
  const ctx = await appSpeaking(t, '2.14')
  const { lead, user, conversation } = await textedThenMerged(ctx)
  const survivor = String(fixture.headers.link).replace(/6762f0d01bb69f9f2193bb7d/, user.id)
  t.not(survivor, fixture.headers.link, "the captured survivor id is mapped onto the stand-in's user")
  ctx.intercom.failNext({
    match: { method: 'GET', path: new RegExp(`^/contacts/${lead.id}$`) },
    status: fixture.status,
    headers: { ...fixture.headers, link: survivor },
    body: fixture.body,
  })
  const before = ctx.intercom.requests.length
  await texts(ctx, 'I just signed up')
  t.same(
    answersFor(ctx, lead.id, before).filter((a) => a.startsWith('GET')),
    ['GET 410'],
    'the old id asked once, answered as captured',
  )
  t.notOk(
    ctx.intercom.callsSince(before).some((r) => r.method === 'GET' && r.path === `/conversations/${conversation.id}`),
    'the Link said it all: no conversation read to find the survivor',
  )
  t.match(comments(ctx, conversation.id).at(-1), { author: { id: user.id }, body: /I just signed up/ })
  t.match(await link(ctx), { intercom_contact_id: user.id, source: 'merged' })
  t.same(await deadJobs(ctx), [])
})
