import t from 'tap'
import { join } from 'node:path'
import { OUR_NUMBER, standInEnv } from '../../sandbox/env.js'
import { redeliver, type Delivery } from '../../sandbox/http.js'
import { tempDir } from '../support/db.js'
import { startServiceProcess, type ServiceProcess } from '../support/process.js'
import { accepted, conversationOf as conversationOfPhone, textsInIntercom, textsSent, wiredStandIns } from '../support/traffic.js'
import { until } from '../support/wait.js'

const CUSTOMERS = 10
const PER_CUSTOMER = 50
/** A teammate answers every this many texts of a customer. */
const REPLY_EVERY = 5

t.test(
  'kill -9 while 500 texts arrive and replies go out: after a restart every text is in Intercom once, in order, and every reply sent once',
  async (t) => {
    const { twilio, intercom } = await wiredStandIns(t)
    const cwd = tempDir(t)
    const env = { ...standInEnv(twilio, intercom, join(cwd, 'bridge.db')), JOB_LEASE_SECONDS: '2' }
    const customer = (c: number) => `+1415555${String(1000 + c)}`
    const body = (c: number, i: number) => `customer ${c} text ${String(i).padStart(2, '0')}`
    const conversationOf = (c: number) => conversationOfPhone(intercom, customer(c))

    // Replies whose webhook got no 2xx: Intercom sends those again (to whichever process is up).
    const unacknowledged: Delivery[] = []
    const replies: string[] = []
    let service: ServiceProcess
    /** Each customer's next text: customers go at their own pace. */
    const next = Array.from({ length: CUSTOMERS }, () => 0)
    /** The text a teammate still owes a reply after (its conversation was not in Intercom yet, or the service died). */
    const owed: Array<number | undefined> = Array.from({ length: CUSTOMERS }, () => undefined)
    /** Writes the owed reply once the customer's conversation is in Intercom; false when traffic stopped first. */
    async function reply(c: number, stop: () => boolean): Promise<boolean> {
      const i = owed[c]
      if (i === undefined) return true
      let conversation = conversationOf(c)
      while (!conversation) {
        if (stop()) return false
        await new Promise((r) => setTimeout(r, 20))
        conversation = conversationOf(c)
      }
      owed[c] = undefined
      const text = `reply to customer ${c} after text ${i}`
      replies.push(text)
      const { delivery } = await intercom.replyAsAdmin(conversation.id, { body: `<p>${text}</p>` }, service.url)
      if (!accepted(delivery)) unacknowledged.push(delivery!)
      return true
    }
    /** Each customer texts in order, all customers at once; a teammate answers every REPLY_EVERY texts. */
    async function traffic(stop: () => boolean) {
      await Promise.all(
        Array.from({ length: CUSTOMERS }, async (_, c) => {
          if (!(await reply(c, stop))) return
          for (let i = next[c]!; i < PER_CUSTOMER && !stop(); i = next[c]!) {
            await twilio.receiveText({ from: customer(c), to: OUR_NUMBER, body: body(c, i), via: service.url })
            next[c] = i + 1
            if (i % REPLY_EVERY === REPLY_EVERY - 1) owed[c] = i
            if (!(await reply(c, stop))) return
          }
        }),
      )
    }
    service = await startServiceProcess(t, 'node', env, cwd)
    const first = service
    let killed = false
    // Kill it while texts are still arriving, many are not yet in Intercom and replies are going out.
    const sending = traffic(() => killed)
    await until(
      () => textsInIntercom(intercom).length >= 100 && textsSent(twilio).length >= 5,
      'a hundred texts in Intercom and some replies sent',
      30_000,
    )
    const exited = new Promise((r) => first.child.once('exit', r))
    first.child.kill('SIGKILL')
    killed = true
    await sending
    await exited

    // Restart on the same database. The bridge catches up on texts whose webhooks died with it first.
    // It has stored them once its catch-up job is done (listing is not enough: new texts sent in
    // between would be stored, and delivered, before the older ones it is about to store).
    service = await startServiceProcess(t, 'node', { ...env, LOG_LEVEL: 'debug' }, cwd)
    const caughtUp = /"task":"inbound\.catchup"[^\n]*"msg":"job completed"/
    await until(() => caughtUp.test(service.output()), "the restarted service's catch-up to finish", 30_000)
    await until(async () => (await fetch(`${service.url}/readyz`)).status === 200, 'ready')
    for (const delivery of unacknowledged.splice(0))
      t.ok(accepted(await redeliver(intercom.deliveries, delivery, service.url)), 'a retried reply webhook is accepted')
    await traffic(() => false)

    const expected = CUSTOMERS * PER_CUSTOMER
    await until(() => textsInIntercom(intercom).length >= expected, `all ${expected} texts in Intercom`, 90_000)
    await until(() => textsSent(twilio).length >= replies.length, `all ${replies.length} replies sent`, 30_000)
    await new Promise((r) => setTimeout(r, 1_000)) // anything posted twice would show up by now

    const all = textsInIntercom(intercom)
    t.equal(all.length, expected, 'every text exactly once')
    t.equal(new Set(all).size, expected, 'no duplicates')
    t.equal(intercom.contacts.length, CUSTOMERS, 'one contact per customer')
    t.equal(intercom.conversations.length, CUSTOMERS, 'one conversation per customer')
    for (let c = 0; c < CUSTOMERS; c++) {
      t.same(
        textsInIntercom(intercom, conversationOf(c)),
        Array.from({ length: PER_CUSTOMER }, (_, i) => body(c, i)),
        `customer ${c}: in order`,
      )
    }
    const sent = textsSent(twilio)
    t.equal(replies.length, CUSTOMERS * (PER_CUSTOMER / REPLY_EVERY), 'a reply after every fifth text of each customer')
    t.same([...sent].sort(), [...replies].sort(), 'every reply sent exactly once')
    await service.stop()
  },
)
