import t, { type Test } from 'tap'
import { join } from 'node:path'
import { startLibsqlServerStandIn } from '../../sandbox/libsql-server.js'
import { OUR_NUMBER, standInEnv } from '../../sandbox/env.js'
import { tempDir } from '../support/db.js'
import { startServiceProcess } from '../support/process.js'
import {
  accepted,
  conversationOf as conversationOfPhone,
  jobStarts,
  textsInIntercom,
  textsSent,
  wiredStandIns,
} from '../support/traffic.js'
import { until } from '../support/wait.js'

const CUSTOMERS = 8
const PER_CUSTOMER = 30

t.test(
  'two service processes on one database file under HTTP load: no job runs twice, every text once and in order, every reply once',
  (t) => twoMachines(t, 'file'),
)

t.test('two machines on one remote libSQL database (Turso) under HTTP load: the same', (t) => twoMachines(t, 'remote'))

async function twoMachines(t: Test, database: 'file' | 'remote') {
  const { twilio, intercom } = await wiredStandIns(t)
  const cwd = tempDir(t)
  const env = { ...standInEnv(twilio, intercom, join(cwd, 'bridge.db')), LOG_LEVEL: 'debug' }
  if (database === 'remote') {
    // What fly.io machines share: a libSQL server over HTTP with a token, its file apart from theirs.
    const server = await startLibsqlServerStandIn({ path: join(tempDir(t), 'server.db') })
    t.teardown(() => server.close())
    Object.assign(env, { DATABASE_URL: server.url, DATABASE_AUTH_TOKEN: server.authToken })
  }
  // Two machines behind one address: both start on the same database at once (migrations included).
  const services = await Promise.all([startServiceProcess(t, 'node', env, cwd), startServiceProcess(t, 'node', env, cwd)])
  const customer = (c: number) => `+1415556${String(2000 + c)}`
  const body = (c: number, i: number) => `customer ${c} text ${String(i).padStart(2, '0')}`
  const conversationOf = (c: number) => conversationOfPhone(intercom, customer(c))

  // Each customer texts in order; the proxy sends each request to either machine. A teammate answers
  // every tenth text, through either machine too.
  const replies: string[] = []
  const refused: string[] = []
  await Promise.all(
    Array.from({ length: CUSTOMERS }, async (_, c) => {
      for (let i = 0; i < PER_CUSTOMER; i++) {
        const { delivery } = await twilio.receiveText({
          from: customer(c),
          to: OUR_NUMBER,
          body: body(c, i),
          via: services[(c + i) % 2]!.url,
        })
        if (!accepted(delivery)) refused.push(body(c, i))
        const conversation = conversationOf(c)
        if (i % 10 === 9 && conversation) {
          const text = `reply to customer ${c} after text ${i}`
          replies.push(text)
          const reply = await intercom.replyAsAdmin(conversation.id, { body: `<p>${text}</p>` }, services[(c + i + 1) % 2]!.url)
          if (!accepted(reply.delivery)) refused.push(text)
        }
      }
    }),
  )

  t.same(refused, [], 'every webhook answered 2xx')
  const expected = CUSTOMERS * PER_CUSTOMER
  await until(() => textsInIntercom(intercom).length >= expected, `all ${expected} texts in Intercom`, 60_000)
  await until(() => textsSent(twilio).length >= replies.length, `all ${replies.length} replies sent`, 30_000)
  await new Promise((r) => setTimeout(r, 500)) // anything done twice would show by now

  t.equal(textsInIntercom(intercom).length, expected, 'every text exactly once')
  for (let c = 0; c < CUSTOMERS; c++) {
    t.same(
      textsInIntercom(intercom, conversationOf(c)),
      Array.from({ length: PER_CUSTOMER }, (_, i) => body(c, i)),
      `customer ${c}: in order`,
    )
  }
  t.equal(intercom.contacts.length, CUSTOMERS, 'one contact per customer')
  t.equal(intercom.conversations.length, CUSTOMERS, 'one conversation per customer')
  t.ok(replies.length >= CUSTOMERS * 2, `${replies.length} replies written`)
  t.same([...textsSent(twilio)].sort(), [...replies].sort(), 'every reply sent exactly once')

  const starts = jobStarts(...services.map((s) => s.output()))
  t.ok(starts.size >= expected + replies.length, `${starts.size} jobs ran`)
  t.same(
    [...starts].filter(([, pids]) => pids.length > 1),
    [],
    'no job started twice',
  )
  const byPid = new Set([...starts.values()].flat())
  t.equal(byPid.size, 2, 'both processes ran jobs')
  for (const s of services) t.equal(await s.stop(), 0, 'a clean stop')
}
