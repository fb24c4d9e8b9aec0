// What the database alone costs per acknowledged text, the service's statements against the durable
// floor's: node bench/ack-statements.mjs [TEXTS_PER_COMMIT] (after npm run build). Same engine
// (libSQL's own, WAL, synchronous FULL), same group commit size, fresh files in a temporary folder,
// random MessageSids as Twilio's are. The service's text is a message row (its MessageSid unique,
// three more indexes) and its delivery job (three indexes); the floor's is one row with one index.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { migrate, openStore } from '../dist/shared/db/database.js'
import { LocalEngine } from '../dist/shared/db/local-dialect.js'
import { insertInbound } from '../dist/shared/db/messages.js'
import { enqueueAfterInsert } from '../dist/server/queue/queue.js'

const PER_COMMIT = Number(process.argv[2] ?? 20)
const TEXTS = 20_000
const dir = mkdtempSync(join(tmpdir(), 'sms-bridge-statements-'))
const texts = Array.from({ length: TEXTS }, (_, i) => ({
  sid: `SM${randomBytes(16).toString('hex')}`,
  from: `+1415556${String(i % 500).padStart(4, '0')}`,
  to: '+14155550100',
  body: `load ${i}`,
  media: [],
  numSegments: 1,
}))

async function timed(engine, statementsOf) {
  const started = performance.now()
  for (let i = 0; i < TEXTS; i += PER_COMMIT) {
    await engine.run('BEGIN IMMEDIATE', [])
    for (const text of texts.slice(i, i + PER_COMMIT)) for (const q of statementsOf(text)) await engine.run(q.sql, q.parameters)
    await engine.run('COMMIT', [])
  }
  return ((performance.now() - started) * 1000) / TEXTS
}

try {
  const floor = new LocalEngine({ path: join(dir, 'floor.db'), memory: false, busyTimeoutMs: 10_000 })
  await floor.run('CREATE TABLE texts (sid TEXT PRIMARY KEY, sender TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)', [])
  const floorUs = await timed(floor, (t) => [
    {
      sql: 'INSERT INTO texts (sid, sender, body, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING',
      parameters: [t.sid, t.from, t.body, Date.now()],
    },
  ])

  const store = await openStore({ url: `file:${join(dir, 'bridge.db')}` })
  await migrate(store)
  await store.close()
  const service = new LocalEngine({ path: join(dir, 'bridge.db'), memory: false, busyTimeoutMs: 10_000 })
  const serviceUs = await timed(service, (t) => [
    insertInbound(t, { phone: t.from, ours: t.to }),
    enqueueAfterInsert(
      { task: 'inbound.deliver', payload: { messageId: 0 }, key: `inbound:${t.sid}`, queueKey: `phone:${t.from}` },
      'messageId',
    ),
  ])
  console.log(
    JSON.stringify({
      texts_per_commit: PER_COMMIT,
      floor_us_per_text: Math.round(floorUs),
      service_us_per_text: Math.round(serviceUs),
      ratio: Math.round((floorUs / serviceUs) * 100) / 100,
    }),
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
