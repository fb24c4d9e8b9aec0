// The durable floor for the benchmark: the least a durable, signed ack of a text can cost on this
// machine. Fastify and formbody as the service has them, the same Twilio signature check
// (dist/shared/signatures.js), the same embedded engine (dist/shared/db/local-dialect.js: libSQL's
// own, WAL, synchronous FULL) and one INSERT per text, the writes that arrive together sharing one
// commit (one fsync), each answered only after it. Nothing else: no validation, no job row, no
// logging, no metrics. Usage: node bench/durable-floor.mjs DB_PATH TWILIO_AUTH_TOKEN PUBLIC_URL.
// Prints its port, then serves until killed.
import Fastify from 'fastify'
import formbody from '@fastify/formbody'
import { LocalEngine } from '../dist/shared/db/local-dialect.js'
import { verifyTwilioSignature } from '../dist/shared/signatures.js'

const [dbPath, authToken, publicUrl] = process.argv.slice(2)
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
const engine = new LocalEngine({ path: dbPath, memory: false, busyTimeoutMs: 10_000 })
await engine.run(
  'CREATE TABLE IF NOT EXISTS texts (sid TEXT PRIMARY KEY, sender TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)',
  [],
)

// Group commit, as the service's store does it: writes that arrive while a commit is under way
// share the next one.
let pending = []
let committing = false
async function commit() {
  if (committing) return
  committing = true
  while (pending.length > 0) {
    await new Promise((resolve) => setImmediate(resolve))
    const batch = pending.splice(0, 200)
    try {
      await engine.run('BEGIN IMMEDIATE', [])
      for (const text of batch)
        await engine.run('INSERT INTO texts (sid, sender, body, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING', [
          text.sid,
          text.from,
          text.body,
          Date.now(),
        ])
      await engine.run('COMMIT', [])
      for (const text of batch) text.resolve()
    } catch (err) {
      await engine.run('ROLLBACK', []).catch(() => {})
      for (const text of batch) text.reject(err)
    }
  }
  committing = false
}

const app = Fastify({ logger: false })
await app.register(formbody)
app.post('/twilio/sms', async (req, reply) => {
  const signature = req.headers['x-twilio-signature']
  if (!verifyTwilioSignature(authToken, typeof signature === 'string' ? signature : undefined, `${publicUrl}${req.url}`, req.body))
    return reply.code(403).send()
  const { MessageSid: sid, From: from, Body: body = '' } = req.body
  await new Promise((resolve, reject) => {
    pending.push({ sid, from, body, resolve, reject })
    commit()
  })
  return reply.type('text/xml').send(EMPTY_TWIML)
})
await app.listen({ port: 0, host: '127.0.0.1' })
console.log(`PORT ${app.server.address().port}`)
