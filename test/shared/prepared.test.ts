import t from 'tap'
import { sql } from 'kysely'
import type { Store } from '../../shared/db/database.js'
import { prepare } from '../../shared/db/prepared.js'
import { receiveText } from '../../server/bridge/inbound.js'
import { systemClock } from '../../shared/clock.js'
import type { Config } from '../../server/config.js'
import { remoteStore, tempStore } from '../support/db.js'

t.test('a prepared statement compiles once and binds each call its own values, constants kept', async (t) => {
  let builds = 0
  const insert = prepare<{ key: string; at: number }>((db, arg) => {
    builds++
    return db.insertInto('webhook_receipts').values({ source: 'fixed', key: arg('key'), received_at: arg('at') })
  })
  const a = insert({ key: 'one', at: 1 })
  const b = insert({ key: 'two', at: 2 })
  t.equal(builds, 1, 'built once')
  t.equal(a.sql, b.sql)
  t.equal(a.sql, 'insert into "webhook_receipts" ("source", "key", "received_at") values (?, ?, ?)')
  t.same(a.parameters, ['fixed', 'one', 1])
  t.same(b.parameters, ['fixed', 'two', 2])
  // A value used twice is bound twice; a `sql` template prepares as well as a builder does.
  const twice = prepare<{ n: number }>((_db, arg) => sql`SELECT ${arg('n')} + ${arg('n')} AS total`)
  t.same(twice({ n: 4 }).parameters, [4, 4])

  const store = await tempStore(t)
  await store.run(insert({ key: 'three', at: 3 }))
  t.same(await store.db.selectFrom('webhook_receipts').select(['source', 'key', 'received_at']).where('key', '=', 'three').execute(), [
    { source: 'fixed', key: 'three', received_at: 3 },
  ])
})

t.test('an argument the builder leaves out is refused when the statement is first bound, not ignored', async (t) => {
  const dropped = prepare<{ key: string; unused: string }>((db, arg) => {
    arg('unused')
    return db.insertInto('webhook_receipts').values({ source: 's', key: arg('key'), received_at: 1 })
  })
  t.throws(() => dropped({ key: 'k', unused: 'u' }), /argument "unused" is not in the compiled SQL/)
})

t.test("texts stored together, remote and embedded: each text's job names its own row, a redelivery adds none", async (t) => {
  const { store: remote } = await remoteStore(t)
  const config = { defaultCountry: 'US' } as Config
  for (const [name, store] of [
    ['remote', remote],
    ['embedded', await tempStore(t)],
  ] as [string, Store][]) {
    const sid = (i: number) => `SM${String(i).padStart(32, '0')}`
    const text = (i: number) => ({
      sid: sid(i),
      from: `+1415555${String(1000 + (i % 7))}`,
      to: '+14155550100',
      body: `text ${i}`,
      media: [],
      numSegments: 1,
    })
    // 20 texts and 5 redeliveries of them, all arriving together: one group commit.
    const stored = await Promise.all(
      [...Array.from({ length: 20 }, (_, i) => text(i)), ...Array.from({ length: 5 }, (_, i) => text(i * 3))].map((sms) =>
        receiveText({ store, config, clock: systemClock }, sms),
      ),
    )
    t.same(stored, [...Array(20).fill(true), ...Array(5).fill(false)], `${name}: new texts stored, redeliveries not`)
    const jobs = await store.db.selectFrom('jobs').select(['payload', 'key']).where('task', '=', 'inbound.deliver').execute()
    t.equal(jobs.length, 20, `${name}: one job per text`)
    const messages = new Map(
      (await store.db.selectFrom('messages').select(['id', 'twilio_sid']).execute()).map((m) => [m.twilio_sid, m.id]),
    )
    for (const job of jobs) {
      const messageSid = job.key!.slice(job.key!.indexOf('SM'))
      t.same(JSON.parse(job.payload), { messageId: messages.get(messageSid) }, `${name}: ${job.key} names its own message`)
    }
  }
})
