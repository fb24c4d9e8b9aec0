// Every payload captured from real Intercom and Twilio accounts (test/fixtures/real, each file with
// where it came from) replayed through the real app, with the effect each must have. Only ids are
// mapped onto the stand-ins' state (the conversation, the contact, the account) before replay.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import twilio from 'twilio'
import { buildTestApp, drain, inboundForm, postIntercomWebhook, postSms, postStatus } from './helper.js'
import { signCanvas, startIntercomStandIn } from '../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../sandbox/twilio/index.js'
import { WORKSPACE } from '../sandbox/intercom/state.js'
import { textOf } from '../shared/text.js'

const ROOT = join(import.meta.dirname, 'fixtures', 'real')
const CUSTOMER = '+14155550123'

interface Fixture<P> {
  source: string
  payload: P
}

function load<F>(dir: string): Array<[string, F & { source: string }]> {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(join(ROOT, dir, f), 'utf8'))])
}

type Notification = { topic: string; app_id: string; id: string | null; data: { item: Record<string, any> | null } }

t.test('every fixture names where it came from', async (t) => {
  for (const dir of ['intercom/webhooks', 'intercom/api', 'intercom/api-2.16', 'intercom/canvas', 'twilio', 'twilio-signed']) {
    for (const [file, fixture] of load<{ source: unknown }>(dir)) {
      t.ok(typeof fixture.source === 'string' && fixture.source.length > 20, `${dir}/${file}`)
    }
  }
})

/**
 * What each captured Intercom notification must do, written by hand from what it carries: the texts
 * the customer gets, and the conversation's state afterwards (null: not an SMS-relevant change).
 */
const WEBHOOKS: Record<string, { texts: string[]; closed?: boolean; stored: boolean; notes?: RegExp[] }> = {
  'admin-assigned-assignment-hull.json': { texts: [], stored: true }, // an assignment with no words
  'admin-assigned-assignment-with-body-zulip.json': { texts: ['Hey Jordan! How can I help?'], stored: true },
  'admin-assigned-nobody-assignee-hull.json': { texts: [], stored: true },
  'admin-closed-darragh.json': { texts: [], closed: true, stored: true },
  'admin-closed-hull.json': { texts: [], closed: true, stored: true },
  'admin-closed-zulip.json': { texts: [], closed: true, stored: true },
  'admin-noted-hull.json': { texts: [], stored: false }, // a topic the bridge does not take
  'admin-noted-zulip.json': { texts: [], stored: false },
  'admin-open-assigned-assignment-v2-zulip.json': { texts: ['aMSIJJO'], closed: false, stored: true },
  'admin-opened-assign-and-reopen-hull.json': { texts: [], closed: false, stored: true },
  'admin-opened-open-part-zulip.json': { texts: [], closed: false, stored: true },
  'admin-replied-assignment-zulip.json': { texts: ['Hey Jordan! How can I help?'], closed: false, stored: true },
  'admin-replied-open-part-hull.json': { texts: ['hi Sam'], closed: false, stored: true },
  'admin-single-created-zulip.json': { texts: [], stored: false },
  // The Messenger's reply-time notice: chrome, not a message (the 2.16 description has no example of it).
  'operator-replied-bot-zulip.json': { texts: [], closed: false, stored: true },
  'part-redacted-open-part-hull.json': { texts: [], stored: false },
  // Intercom's 2.16 description examples, wrapped as notifications (see each file's source).
  'spec216-admin-assigned-assign-and-reopen.json': { texts: [], closed: false, stored: true },
  'spec216-admin-closed-with-message.json': { texts: ['Goodbye :)'], closed: true, stored: true },
  'spec216-admin-opened.json': { texts: [], closed: false, stored: true },
  'spec216-admin-replied-quick-reply.json': { texts: ['Reply 1 for Yes, 2 for No.'], closed: true, stored: true },
  'spec216-admin-replied-quick-reply-no-options.json': {
    texts: [],
    closed: true,
    stored: true,
    notes: [/quick reply's buttons did not reach the customer/],
  },
  'spec216-admin-snoozed.json': { texts: [], stored: false }, // a topic the bridge does not take
  'spec216-part-redacted.json': { texts: [], stored: false },
  'user-created-zulip.json': { texts: [], stored: false },
  'user-replied-comment-zulip.json': { texts: [], stored: false }, // the customer's own words are never texted back
}

t.test('captured Intercom webhook notifications', async (t) => {
  const fixtures = load<Fixture<Notification>>('intercom/webhooks')
  t.ok(fixtures.length >= 20, `${fixtures.length} captures`)
  for (const [file, fixture] of fixtures) {
    await t.test(file, async (t) => {
      const ctx = await buildTestApp(t, { env: { WELCOME_SMS_TEMPLATE: 'Hi {{first_name|there}}, welcome!' } })
      // Captured in other workspaces: the stand-in's workspace takes their place (notifications from
      // any other workspace are dropped).
      const payload = { ...fixture.payload, app_id: WORKSPACE }
      const item = payload.data.item
      if (payload.topic === 'ping') {
        const res = await postIntercomWebhook(ctx, payload)
        t.equal(res.statusCode, 200)
        t.equal((await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().execute()).length, 0, 'nothing stored')
        return
      }
      if (payload.topic.startsWith('contact.')) {
        // The contact exists in Intercom under the captured id; its phone (none in these captures) decides.
        ctx.intercom.addContact({
          id: item!.id,
          role: item!.role,
          email: item!.email ?? null,
          phone: item!.phone ?? null,
          name: item!.name ?? null,
        })
        const res = await postIntercomWebhook(ctx, payload)
        t.equal(res.statusCode, 200, res.body)
        await drain(ctx.app)
        const send = await ctx.app.store.db.selectFrom('automated_sends').selectAll().executeTakeFirst()
        t.match(
          send,
          { key: `welcome:${item!.id}`, status: 'skipped', reason: /no valid mobile number/ },
          'the welcome is considered, and skipped for want of a number',
        )
        t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 0)
        return
      }
      const expected = WEBHOOKS[file]
      if (!expected) return t.fail(`no expectation written for ${file}`)
      // The captured conversation becomes the customer's SMS conversation: a text opened it.
      await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Hi, I need help' }))
      await drain(ctx.app)
      const conversation = ctx.intercom.conversations[0]!
      const replayed = structuredClone(payload)
      replayed.data.item!.id = conversation.id
      // Delivered now, not in 2019: the capture's clock moves forward, its intervals kept.
      const shift = Math.floor(Date.now() / 1000) + 1 - Number(replayed.data.item!.updated_at)
      for (const o of [replayed as Record<string, any>, replayed.data.item!]) {
        for (const k of ['created_at', 'updated_at']) if (typeof o[k] === 'number') o[k] += shift
      }
      if (expected.closed === false) {
        // For the notifications that reopen, the bridge has it closed first.
        await ctx.app.store.transaction((trx) => trx.updateTable('sms_conversations').set({ closed_at: 1_000, state_at: 1_000 }).execute())
      }
      const res = await postIntercomWebhook(ctx, replayed)
      t.equal(res.statusCode, 200, res.body)
      await drain(ctx.app)
      const texts = ctx.twilio.messages.filter((m) => m.direction === 'outbound-api' && m.to === CUSTOMER).map((m) => m.body)
      t.same(texts, expected.texts, 'texts to the customer')
      const notes = conversation.parts.filter((p) => p.part_type === 'note').map((p) => p.body ?? '')
      t.equal(notes.length, expected.notes?.length ?? 0, 'notes to the team')
      for (const [i, note] of (expected.notes ?? []).entries()) t.match(notes[i], note)
      const receipts = await ctx.app.store.db.selectFrom('webhook_receipts').selectAll().execute()
      t.equal(receipts.length, expected.stored ? 1 : 0, expected.stored ? 'stored once' : 'an unhandled topic: nothing stored')
      if (expected.closed !== undefined) {
        const link = await ctx.app.store.db.selectFrom('sms_conversations').selectAll().executeTakeFirstOrThrow()
        t.equal(link.closed_at !== null, expected.closed, expected.closed ? 'closed' : 'open')
      }
      // Redelivered as Intercom retries it: no second text.
      await postIntercomWebhook(ctx, { ...replayed, delivery_attempts: 2 })
      await drain(ctx.app)
      t.equal(
        ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length,
        expected.texts.length,
        'a redelivery changes nothing',
      )
    })
  }
})

t.test('captured Canvas Kit requests: the sidebar and the Messenger card', async (t) => {
  const fixtures = load<Fixture<Record<string, any>> & { surface: 'inbox' | 'messenger'; request: 'initialize' | 'submit' }>(
    'intercom/canvas',
  )
  t.ok(fixtures.length >= 4)
  for (const [file, fixture] of fixtures) {
    await t.test(file, async (t) => {
      const ctx = await buildTestApp(t)
      const body = structuredClone(fixture.payload)
      // The captured people become the stand-in's (the ids are all that change). In a conversation,
      // the captured contact is the customer who texted: the lead the bridge made for their number.
      const person = body.contact ?? body.user
      if (body.conversation) {
        await postSms(ctx, inboundForm(ctx, { From: CUSTOMER, Body: 'Hi, I need help' }))
        await drain(ctx.app)
        body.conversation.id = ctx.intercom.conversations[0]!.id
        for (const p of [body.contact, body.customer]) if (p) p.id = ctx.intercom.contacts[0]!.id
      } else if (person) {
        const contact = ctx.intercom.addContact({
          id: person.id,
          role: person.role === 'user' || person.type === 'user' ? 'user' : 'lead',
          email: person.email || null,
          phone: person.phone ?? null,
        })
        if (body.customer) body.customer.id = contact.id
      }
      if (fixture.request === 'submit') {
        // The canvas the button was clicked in is the one the bridge drew: its stored data (the
        // nonce that makes a submit count once) comes from an initialize, as in Intercom.
        const init = JSON.stringify({ ...body, component_id: undefined, input_values: undefined, current_canvas: undefined })
        const opened = await ctx.app.inject({
          method: 'POST',
          url: `/canvas/${fixture.surface}/initialize`,
          headers: { 'content-type': 'application/json', 'x-body-signature': signCanvas(ctx.intercom.clientSecret, init) },
          payload: init,
        })
        body.current_canvas.stored_data = { ...body.current_canvas.stored_data, ...opened.json().canvas.stored_data }
      }
      const raw = JSON.stringify(body)
      const res = await ctx.app.inject({
        method: 'POST',
        url: `/canvas/${fixture.surface}/${fixture.request}`,
        headers: { 'content-type': 'application/json', 'x-body-signature': signCanvas(ctx.intercom.clientSecret, raw) },
        payload: raw,
      })
      t.equal(res.statusCode, 200)
      const components = (res.json().canvas.content.components as Array<{ id: string; text?: string }>) ?? []
      const ids = components.map((c) => c.id)
      t.notOk(ids.includes('error'), `not an error canvas: ${JSON.stringify(components[0])}`)
      if (fixture.surface === 'messenger' && fixture.request === 'initialize')
        t.same(ids, ['title', 'intro', 'phone', 'consent', 'subscribe'])
      if (fixture.surface === 'messenger' && fixture.request === 'submit') {
        t.match(components.map((c) => c.text).join('\n'), /We texted a 6-digit code to \+1 415 555 0188/)
        await drain(ctx.app)
        t.same(
          ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => m.to),
          ['+14155550188'],
          'one text: the code that proves the number',
        )
      }
      if (fixture.surface === 'inbox' && fixture.request === 'initialize') t.ok(ids.includes('send_sms'), 'the compose box')
      if (fixture.surface === 'inbox' && fixture.request === 'submit') {
        await drain(ctx.app)
        t.same(
          ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').map((m) => [m.to, m.body]),
          [[CUSTOMER, 'Your replacement ships today 📦']],
        )
      }
    })
  }
})

type TwilioFixture = { source: string; kind: 'inbound' | 'status'; params: Record<string, string> }

/** What each captured inbound webhook must put in Intercom, written by hand from what it carries. */
const INBOUND: Record<string, { phone: string; shown: RegExp | string; attachments: number; whatsapp?: true }> = {
  'inbound-rcs-msgsvc-twilio-docs.json': { phone: '+14155550105', shown: 'Is my order on its way?', attachments: 0 },
  'inbound-mms-3-images-msgsvc-upahead.json': { phone: '+14155550101', shown: 'Multiple images and text', attachments: 3 },
  'inbound-mms-image-android-upahead.json': { phone: '+14155550101', shown: '(sent an attachment)', attachments: 1 },
  'inbound-mms-image-apple-upahead.json': { phone: '+14155550102', shown: '(sent an attachment)', attachments: 1 },
  'inbound-mms-video-3gpp-android-upahead.json': { phone: '+14155550101', shown: '(sent an attachment)', attachments: 1 },
  'inbound-mms-video-3gpp-apple-upahead.json': { phone: '+14155550102', shown: '(sent an attachment)', attachments: 1 },
  'inbound-sms-msgsvc-android-upahead.json': { phone: '+14155550101', shown: 'Normal text message', attachments: 0 },
  'inbound-sms-msgsvc-apple-upahead.json': { phone: '+14155550102', shown: 'Text 12 12:20pm', attachments: 0 },
  'inbound-sms-msgsvc-link-body-upahead.json': { phone: '+14155550101', shown: /^https:\/\/photos\.app\.goo\.gl\//, attachments: 0 },
  'inbound-sms-plain-geo-smswebhook.json': { phone: '+14155550104', shown: 'Hi', attachments: 0 },
  'inbound-sms-plain-legacy-smartstops.json': { phone: '+14155550103', shown: "Who's got the best coffee near 5545?", attachments: 0 }, // SmsSid only, no MessageSid
  'inbound-whatsapp-button-profile-apotek.json': { phone: '+6281200000001', shown: 'Konfirmasi', attachments: 0, whatsapp: true },
  'inbound-whatsapp-image-botbuilder.json': { phone: '+31612345601', shown: '(sent an attachment)', attachments: 1, whatsapp: true },
  'inbound-whatsapp-location-botbuilder.json': {
    phone: '+31612345601',
    shown: /^📍 Shared a location: Microsoft, Evert van de Beekstraat 354.* https:\/\/www\.google\.com\/maps\?q=52\.30389\d*,4\.75002\d*$/,
    attachments: 0,
    whatsapp: true,
  },
  'inbound-whatsapp-text-botbuilder.json': { phone: '+31612345601', shown: 'test', attachments: 0, whatsapp: true },
}

t.test('captured Twilio inbound webhooks: SMS, MMS, WhatsApp, with and without a Messaging Service', async (t) => {
  const fixtures = load<TwilioFixture>('twilio').filter(([, f]) => f.kind === 'inbound')
  t.ok(fixtures.length >= 10, `${fixtures.length} captures`)
  for (const [file, { params }] of fixtures) {
    await t.test(file, async (t) => {
      const expected = INBOUND[file]
      if (!expected) return t.fail(`no expectation written for ${file}`)
      const ctx = await buildTestApp(t)
      const form = { ...params, AccountSid: ctx.twilio.accountSid }
      const res = await postSms(ctx, form)
      t.equal(res.statusCode, 200, res.body)
      t.match(res.headers['content-type'], /xml/)
      await drain(ctx.app)
      const contact = ctx.intercom.contacts.find((c) => c.phone === expected.phone)
      t.ok(contact, `a contact for ${expected.phone}, the bare number`)
      t.equal(ctx.intercom.contacts.length, 1, 'one contact')
      const conversation = ctx.intercom.conversations[0]!
      const parts = [conversation.source, ...conversation.parts.filter((p) => p.part_type === 'comment')]
      const shown = textOf(parts[0]!.body)
      if (typeof expected.shown === 'string') t.equal(shown, expected.shown)
      else t.match(shown, expected.shown)
      t.equal(parts.flatMap((p) => p.attachments).length, expected.attachments, 'its pictures and videos')
      const row = await ctx.app.store.db.selectFrom('messages').selectAll().executeTakeFirstOrThrow()
      t.equal(row.phone, expected.phone)
      t.equal(row.twilio_sid, params.MessageSid ?? params.SmsSid)
      t.equal(row.twilio_number, params.To, expected.whatsapp ? 'our WhatsApp sender, for the reply' : 'our number')
      // Replayed as Twilio would if asked to again: no second text in Intercom.
      await postSms(ctx, form)
      await drain(ctx.app)
      t.equal((await ctx.app.store.db.selectFrom('messages').selectAll().execute()).length, 1)
    })
  }
})

t.test('captured Twilio status callbacks move the text on, WhatsApp read receipts included', async (t) => {
  const fixtures = load<TwilioFixture>('twilio').filter(([, f]) => f.kind === 'status')
  t.ok(fixtures.length >= 4)
  for (const [file, { params }] of fixtures) {
    await t.test(file, async (t) => {
      const ctx = await buildTestApp(t)
      // A text the bridge sent to this customer, on the capture's channel.
      const customer = params.To ?? `${params.From?.startsWith('whatsapp:') ? 'whatsapp:' : ''}+14155550123`
      await postSms(ctx, inboundForm(ctx, { From: customer, To: params.From ?? '+14155550100', Body: 'hello' }))
      await drain(ctx.app)
      const conversation = ctx.intercom.conversations[0]!
      await postIntercomWebhook(
        ctx,
        ctx.intercom.notification('conversation.admin.replied', conversation.id, [
          ctx.intercom.addAdminReply(conversation.id, { body: '<p>hi</p>' }),
        ]),
      )
      await drain(ctx.app)
      const sent = await ctx.app.store.db.selectFrom('messages').selectAll().where('direction', '=', 'outbound').executeTakeFirstOrThrow()
      const res = await postStatus(ctx, {
        ...params,
        AccountSid: ctx.twilio.accountSid,
        MessageSid: sent.twilio_sid!,
        SmsSid: sent.twilio_sid!,
      })
      t.equal(res.statusCode, 204, res.body)
      const after = await ctx.app.store.db.selectFrom('messages').selectAll().where('id', '=', sent.id).executeTakeFirstOrThrow()
      t.equal(after.status, params.MessageStatus)
      // The channel that carried it, from the callback's From.
      t.equal(after.channel, params.From?.startsWith('rcs:') ? 'rcs' : params.From?.startsWith('whatsapp:') ? 'whatsapp' : 'sms')
    })
  }
})

type SignedFixture = {
  source: string
  url: string
  secret: string
  headers: Record<string, string>
  body: string
  params: Record<string, string>
}

t.test(
  "a request signed with a shared key (HMAC-SHA256), built per Twilio's documented algorithm: the official validator and the app both accept it as sent",
  async (t) => {
    const fixtures = load<SignedFixture>('twilio-signed')
    t.ok(fixtures.length >= 1)
    for (const [file, fx] of fixtures) {
      await t.test(file, async (t) => {
        const settings = fx.headers['x-twilio-webhooks-signature-settings']!
        const signature = fx.headers['x-twilio-signature']!
        t.same(Object.fromEntries(new URLSearchParams(fx.body)), fx.params, 'the body is the parameters')
        // Our frozen signature against twilio 6.3.1's own validator: both read Twilio's docs the same way.
        t.equal(
          twilio.validateRequest(fx.secret, signature, fx.url, fx.params, twilio.getSignatureAlgorithm(settings)),
          true,
          'twilio validates it',
        )
        t.equal(twilio.validateRequest(fx.secret, signature, fx.url, fx.params), false, 'not an HMAC-SHA1 signature')

        const twilioStandIn = await startTwilioStandIn({ accountSid: fx.params.AccountSid! })
        const intercom = await startIntercomStandIn()
        t.teardown(() => twilioStandIn.close())
        t.teardown(() => intercom.close())
        const ctx = await buildTestApp(t, { standIns: { twilio: twilioStandIn, intercom }, env: { TWILIO_WEBHOOK_SHARED_KEYS: fx.secret } })
        const path = new URL(fx.url).pathname
        const send = (body: string) => ctx.app.inject({ method: 'POST', url: path, headers: fx.headers, payload: body })
        t.equal((await send(fx.body.replace('on+its+way', 'on+its+way+today'))).statusCode, 403, 'a changed body is refused')
        t.equal((await send(fx.body)).statusCode, 200)
        await drain(ctx.app)
        t.same(await ctx.app.store.db.selectFrom('messages').select(['body', 'twilio_sid']).execute(), [
          { body: fx.params.Body, twilio_sid: fx.params.MessageSid },
        ])
      })
    }
  },
)
