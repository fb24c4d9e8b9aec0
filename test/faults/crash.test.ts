import t from 'tap'
import { join } from 'node:path'
import { startIntercomStandIn } from '../../sandbox/intercom.js'
import { signTwilio, startTwilioStandIn } from '../../sandbox/twilio.js'
import { tempDir } from '../support/db.js'
import { startServiceProcess, type ServiceProcess } from '../support/process.js'
import { until } from '../support/wait.js'
import { OUR_NUMBER, PUBLIC_URL, standInEnv } from '../../sandbox/env.js'

const CUSTOMERS = 10
const PER_CUSTOMER = 50

t.test('kill -9 while 500 texts arrive and are delivered: after a restart every text is in Intercom once, in order', async (t) => {
  const twilio = await startTwilioStandIn()
  const intercom = await startIntercomStandIn()
  t.teardown(() => twilio.close())
  t.teardown(() => intercom.close())
  const cwd = tempDir(t)
  const env = { ...standInEnv(twilio, intercom, join(cwd, 'bridge.db')), JOB_LEASE_SECONDS: '2' }
  const customer = (c: number) => `+1415555${String(1000 + c)}`
  const body = (c: number, i: number) => `customer ${c} text ${String(i).padStart(2, '0')}`

  /** Twilio's side of one text: it is in Twilio's log, then the webhook is tried once (no redelivery). */
  async function text(service: ServiceProcess, c: number, i: number): Promise<boolean> {
    const m = twilio.addInboundMessage({ from: customer(c), to: OUR_NUMBER, body: body(c, i) })
    const form = { MessageSid: m.sid, AccountSid: twilio.accountSid, From: customer(c), To: OUR_NUMBER, Body: body(c, i), NumMedia: '0' }
    try {
      const res = await fetch(`${service.url}/twilio/sms`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilio(twilio.authToken, `${PUBLIC_URL}/twilio/sms`, form) },
        body: new URLSearchParams(form).toString(),
      })
      return res.status === 200
    } catch {
      return false // the process died under this request: Twilio does not try again
    }
  }

  /** Each customer texts in order, all customers at once, until `stop` says so. */
  async function traffic(service: ServiceProcess, from: number, to: number, stop: () => boolean) {
    let sent = from
    await Promise.all(
      Array.from({ length: CUSTOMERS }, async (_, c) => {
        for (let i = from; i < to && !stop(); i++) {
          await text(service, c, i)
          sent = Math.max(sent, i + 1)
        }
      }),
    )
    return sent
  }

  const first = await startServiceProcess(t, 'node', env, cwd)
  let killed = false
  const delivered = () => intercom.requests.filter((r) => r.status === 200 && /^\/conversations(\/\d+\/reply)?$/.test(r.path)).length
  // Kill it while texts are still arriving and many are not yet in Intercom.
  const sending = traffic(first, 0, PER_CUSTOMER, () => killed)
  await until(() => delivered() >= 100, 'a hundred texts to reach Intercom', 30_000)
  first.child.kill('SIGKILL')
  killed = true
  const reached = await sending
  await new Promise((r) => first.child.once('exit', r))

  // Restart on the same database. The bridge catches up on texts whose webhooks died with it first.
  const second = await startServiceProcess(t, 'node', env, cwd)
  await until(() => twilio.requests.some((r) => r.method === 'GET' && r.path.endsWith('/Messages.json')), 'the catch-up to list Twilio\'s messages', 30_000)
  await until(async () => (await fetch(`${second.url}/readyz`)).status === 200, 'ready')
  await new Promise((r) => setTimeout(r, 500))
  await traffic(second, reached, PER_CUSTOMER, () => false)

  const expected = CUSTOMERS * PER_CUSTOMER
  const textsInIntercom = () =>
    intercom.conversations.flatMap((c) => [c.source.body, ...c.parts.filter((p) => p.part_type === 'comment').map((p) => p.body ?? '')])
  await until(() => textsInIntercom().length >= expected, `all ${expected} texts in Intercom`, 90_000)
  await new Promise((r) => setTimeout(r, 1_000)) // anything posted twice would show up by now

  const all = textsInIntercom()
  t.equal(all.length, expected, 'every text exactly once')
  t.equal(new Set(all).size, expected, 'no duplicates')
  t.equal(intercom.contacts.length, CUSTOMERS, 'one contact per customer')
  t.equal(intercom.conversations.length, CUSTOMERS, 'one conversation per customer')
  for (const conversation of intercom.conversations) {
    const bodies = [conversation.source.body, ...conversation.parts.filter((p) => p.part_type === 'comment').map((p) => p.body ?? '')]
    const c = Number(/customer (\d+)/.exec(bodies[0]!)![1])
    t.same(bodies, Array.from({ length: PER_CUSTOMER }, (_, i) => body(c, i)), `customer ${c}: in order`)
  }
  await second.stop()
})
