import t from 'tap'
import { prune } from '../../server/bridge/maintenance.js'
import { runConsentCommand } from '../../server/ops/consent.js'
import { runPrivacyCommand } from '../../server/ops/privacy.js'
import { standInEnv } from '../../sandbox/env.js'
import { tempDir } from '../support/db.js'
import { runCli } from '../support/process.js'
import { buildTestApp, drain, inboundForm, OUR_NUMBER, postIntercomWebhook, postSms, postStatus, type TestApp } from '../helper.js'

const NUMBER_B = '+14155550177'
const STOPPER = '+14155550123'
const REFUSED = '+14155550199'
const DAY = 86_400_000

/** A customer texts one of our numbers; answers the Intercom conversation it lands in. */
async function textsIn(ctx: TestApp, from: string, to: string, body: string): Promise<string> {
  const inbound = ctx.twilio.addInboundMessage({ from, to, body })
  const res = await postSms(ctx, inboundForm(ctx, { From: from, To: to, Body: body, MessageSid: inbound.sid }))
  if (res.statusCode !== 200) throw new Error(res.body)
  await drain(ctx.app)
  const contact = ctx.intercom.contacts.find((c) => c.phone === from)!
  return ctx.intercom.conversations.find((c) => c.contacts[0]!.id === contact.id)!.id
}

/** STOP to number A from one customer; a reply from number B to another fails with Twilio's 21610. */
async function twoOptOuts(t: Parameters<typeof buildTestApp>[0]) {
  const ctx = await buildTestApp(t, { env: { TWILIO_PHONE_NUMBER: `${OUR_NUMBER},${NUMBER_B}` } })
  const stopConversation = await textsIn(ctx, STOPPER, OUR_NUMBER, 'Hi')
  const stop = ctx.twilio.addInboundMessage({ from: STOPPER, to: OUR_NUMBER, body: 'Stop' })
  await postSms(ctx, inboundForm(ctx, { From: STOPPER, To: OUR_NUMBER, Body: 'Stop', MessageSid: stop.sid }))
  await drain(ctx.app)

  const refusedConversation = await textsIn(ctx, REFUSED, NUMBER_B, 'Where is my parcel?')
  const part = ctx.intercom.addAdminReply(refusedConversation, { body: '<p>On its way</p>' })
  await postIntercomWebhook(ctx, ctx.intercom.notification('conversation.admin.replied', refusedConversation, [part]))
  await drain(ctx.app)
  const reply = ctx.twilio.messages.find((m) => m.direction === 'outbound-api' && m.to === REFUSED)!
  await postStatus(ctx, { MessageSid: reply.sid, MessageStatus: 'failed', ErrorCode: '21610', From: NUMBER_B, To: REFUSED })
  await drain(ctx.app)
  return { ctx, stop, stopConversation, reply, refusedConversation }
}

const ledger = (ctx: TestApp) => ctx.app.store.db.selectFrom('consent_events').selectAll().orderBy('id').execute()

async function consentCli(ctx: TestApp, args: string[]) {
  const lines: string[] = []
  const code = await runConsentCommand(args, ctx.config, (line) => lines.push(line))
  return { code, out: lines.join('\n') }
}

t.test('a STOP to number A and a 21610 from number B both land in the ledger with their evidence', async (t) => {
  const { ctx, stop, stopConversation, reply, refusedConversation } = await twoOptOuts(t)
  t.match(await ledger(ctx), [
    {
      phone: STOPPER,
      state: 'opted_out',
      source: 'keyword',
      text: 'Stop',
      number: OUR_NUMBER,
      message_sid: stop.sid,
      conversation_id: stopConversation,
    },
    {
      phone: REFUSED,
      state: 'opted_out',
      source: 'twilio:21610',
      text: null,
      number: NUMBER_B,
      message_sid: reply.sid,
      conversation_id: refusedConversation,
    },
  ])
  t.match(await ctx.app.store.db.selectFrom('consent').selectAll().orderBy('phone').execute(), [
    { phone: STOPPER, state: 'opted_out' },
    { phone: REFUSED, state: 'opted_out' },
  ])

  // START reverses it, and is kept beside it.
  const start = ctx.twilio.addInboundMessage({ from: STOPPER, to: NUMBER_B, body: 'START' })
  await postSms(ctx, inboundForm(ctx, { From: STOPPER, To: NUMBER_B, Body: 'START', MessageSid: start.sid }))
  await drain(ctx.app)
  t.match((await ledger(ctx)).at(-1), { phone: STOPPER, state: 'opted_in', text: 'START', number: NUMBER_B, message_sid: start.sid })
  t.notMatch(ctx.logs.text, STOPPER, 'no full number in the logs')
})

t.test('consent --phone prints one history in full; --export prints all of it, numbers masked', async (t) => {
  const { ctx, stop, reply } = await twoOptOuts(t)
  const history = await consentCli(ctx, ['--phone', '+1 (415) 555-0123'])
  t.equal(history.code, 0)
  t.match(
    history.out,
    new RegExp(
      `^Consent history of \\${STOPPER}, oldest first:\n\\S+Z  opted out  keyword  \\(text "Stop", our number \\${OUR_NUMBER}, message ${stop.sid}`,
    ),
  )
  t.notMatch(history.out, REFUSED, "another customer's history is not in it")

  const json = JSON.parse((await consentCli(ctx, ['--export'])).out)
  t.match(json.events, [
    { phone: '+*******0123', source: 'keyword', text: 'Stop', our_number: OUR_NUMBER },
    { phone: '+*******0199', source: 'twilio:21610', message_sid: reply.sid, our_number: NUMBER_B },
  ])
  const csv = (await consentCli(ctx, ['--export', '--format', 'csv'])).out.split('\n')
  t.equal(csv[0], 'id,time,phone,state,source,consent_given,text,our_number,message_sid,actor,conversation_id,contact_id')
  t.equal(csv.length, 3)
  t.match(csv[2], new RegExp(`^2,\\S+Z,\\+\\*+0199,opted_out,twilio:21610,0,,\\${NUMBER_B},${reply.sid},`))
  t.notMatch(csv.join('\n'), STOPPER)

  for (const bad of [[], ['--export', '--format', 'xml'], ['--phone'], ['--contact', 'abc'], ['--export', 'x']]) {
    t.equal((await consentCli(ctx, bad)).code, 2, `refuses ${JSON.stringify(bad)}`)
  }

  // The same through the command line entry, on the same database.
  const env = { ...standInEnv(ctx.twilio, ctx.intercom, '/unused'), DATABASE_URL: ctx.config.database.url }
  const cli = await runCli(['consent', '--phone', STOPPER], env, tempDir(t))
  t.equal(cli.code, 0, cli.stderr)
  t.match(cli.stdout, `opted out  keyword  (text "Stop", our number ${OUR_NUMBER}`)
  const usage = await runCli(['consent', '--format', 'csv'], env, tempDir(t))
  t.equal(usage.code, 2)
  t.match(usage.stderr, /Usage: sms-bridge consent --phone/)
})

t.test('the retention prune takes the words of texts, never the ledger; an erasure keeps only the opt-out that proves it', async (t) => {
  const { ctx } = await twoOptOuts(t)
  const before = await ledger(ctx)
  await prune({ store: ctx.app.store, log: ctx.app.log, config: ctx.config }, Date.now() + 400 * DAY)
  t.same(
    (await ctx.app.store.db.selectFrom('messages').select('body').where('body', '!=', '').execute()).length,
    0,
    'every text lost its words',
  )
  t.same(await ledger(ctx), before, 'the ledger is whole, words included')

  // STOPPER opts back in then out again: three events; an erasure keeps the last opt-out only.
  for (const body of ['START', 'STOP']) {
    const m = ctx.twilio.addInboundMessage({ from: STOPPER, to: OUR_NUMBER, body })
    await postSms(ctx, inboundForm(ctx, { From: STOPPER, To: OUR_NUMBER, Body: body, MessageSid: m.sid }))
    await drain(ctx.app)
  }
  t.equal((await ledger(ctx)).filter((e) => e.phone === STOPPER).length, 3)
  t.equal(await runPrivacyCommand('erase', ['--phone', STOPPER], ctx.config, () => {}), 0)
  const kept = (await ledger(ctx)).filter((e) => e.phone === STOPPER)
  t.match(kept, [{ state: 'opted_out', source: 'keyword', text: 'STOP', number: OUR_NUMBER, conversation_id: null, contact_id: null }])
  t.equal(kept.length, 1)
  t.equal((await ledger(ctx)).filter((e) => e.phone === REFUSED).length, 1, "another person's ledger is untouched")
})
