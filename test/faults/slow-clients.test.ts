// Point 3 of the security issue: requests that never finish, and readers that never read, must not
// exhaust memory. 150 half-sent unsigned bodies held 128 MB for over a minute; 40 readers of a held
// 5 MB file that never read held 220 MB. Each attack runs on loopback against the real app with its
// timeouts made short through options; every wait is for an event (an answer, a 'close'), bounded.
// Before the fix, on this loopback: no answer to the unsigned requests within a minute, and the 40
// readers held 153 MB.
import { connect, type Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t, { type Test } from 'tap'
import { buildTestApp, inboundForm, PUBLIC_URL, type TestApp } from '../helper.js'
import { signTwilio } from '../../sandbox/twilio/index.js'
import { insertHeldMedia } from '../../shared/db/media.js'
import { heldMediaToken, mediaToken } from '../../server/bridge/media-links.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
/** JavaScript heap and Buffers in use after a full collection: what the clients make the process hold. */
const used = () => {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}
const MB = 1024 * 1024

// Short enough for the stalled clients to be closed while the test waits, long enough for a signed
// text to arrive whole on a busy machine.
const SHORT = { headersTimeoutMs: 2_000, requestTimeoutMs: 4_000, idleTimeoutMs: 4_000, keepAliveTimeoutMs: 4_000, checkEveryMs: 100 }
/**
 * For the readers: only the idle timeout is under test (it closes a reader that stopped reading), and
 * long enough that a busy machine still answers every reader first; the others stay at production's.
 */
const IDLE_ONLY = { idleTimeoutMs: 8_000, keepAliveTimeoutMs: 8_000, checkEveryMs: 100 }
/** Only a test that would otherwise wait forever runs into this: the server's events come in seconds. */
const BOUND_MS = 60_000

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const bound = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${BOUND_MS / 1000} s: ${what}`)), BOUND_MS)),
  )
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer))
}

interface Client {
  socket: Socket
  /** The status line of the first answer, or null when the connection closed without one. */
  answered: Promise<string | null>
  closed: Promise<void>
}

/** A raw client that sends `head` (and `body`, if any) and then sends nothing more. */
function stalledClient(port: number, head: string, body?: Buffer, options: { pauseAfterFirstData?: boolean } = {}): Client {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {}) // a reset is one way the server closes it
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const answered = new Promise<string | null>((resolve) => {
    socket.once('data', (chunk: Buffer) => {
      if (options.pauseAfterFirstData) socket.pause()
      resolve(chunk.toString('latin1').split('\r\n')[0]!)
    })
    socket.once('close', () => resolve(null))
  })
  socket.write(head)
  if (body) socket.write(body)
  return { socket, answered, closed }
}

const post = (path: string, headers: Record<string, string>, length: number) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`

t.test('3. stalled clients are refused before their bodies, closed by the timeouts, and signed texts still get through', async (t) => {
  const ctx = await buildTestApp(t, { build: { httpLimits: SHORT } })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  const half = Buffer.alloc(512 * 1024, 0x20)
  const clients: Client[] = []
  t.teardown(() => clients.forEach((c) => c.socket.destroy()))

  // 150 unsigned bodies, half sent: each is answered before its body is read, and nothing of it kept.
  const before = used()
  const unsigned = Array.from({ length: 150 }, (_, i) => {
    const path = ['/intercom/webhooks', '/canvas/inbox/submit', '/twilio/sms'][i % 3]!
    return stalledClient(port, post(path, {}, 1024 * 1024), half)
  })
  clients.push(...unsigned)
  const answers = await within(Promise.all(unsigned.map((c) => c.answered)), 'an answer to each unsigned request')
  t.ok(
    answers.every((a) => a === 'HTTP/1.1 401 Unauthorized' || a === 'HTTP/1.1 403 Forbidden'),
    'each refused at once, without waiting for its body',
  )
  const grown = used() - before
  t.ok(grown < 32 * MB, `150 half-sent unsigned bodies hold ${Math.round(grown / MB)} MB (budget 32 MB; they sent 75 MB)`)

  // Some send a signature header (any will do) and stall half-way: their bytes are held until the
  // request timeout, no longer. Others never finish their headers. Meanwhile, a real text arrives.
  const signedLooking = Array.from({ length: 20 }, () =>
    stalledClient(port, post('/intercom/webhooks', { 'X-Hub-Signature': 'sha1=0000' }, 1024 * 1024), half),
  )
  const slowHeaders = Array.from({ length: 10 }, () => stalledClient(port, 'POST /twilio/sms HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Twilio-Sig'))
  clients.push(...signedLooking, ...slowHeaders)
  const form = inboundForm(ctx, { Body: 'still here' })
  const res = await fetch(`http://127.0.0.1:${port}/twilio/sms`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': signTwilio(ctx.twilio.authToken, `${PUBLIC_URL}/twilio/sms`, form),
    },
    body: new URLSearchParams(form).toString(),
  })
  t.equal(res.status, 200, 'a signed text gets through beside them')
  const stored = await ctx.app.store.db.selectFrom('messages').select('body').where('twilio_sid', '=', form.MessageSid!).executeTakeFirst()
  t.equal(stored?.body, 'still here', 'and is stored')

  await within(Promise.all(clients.map((c) => c.closed)), 'the server to close every stalled connection')
  t.pass(`all ${clients.length} stalled connections closed by the server`)
})

/**
 * One reader that reads gets the whole 5 MB file (every byte `fill`); then 40 readers take its first
 * bytes and stop reading: what they make the process hold stays within the budget, and the server
 * closes each once it has been idle. A client that stopped reading never sees the server's close (its
 * unread bytes come first): the server's own side of each connection says when it closed.
 */
async function readersThatStopReading(t: Test, ctx: TestApp, port: number, path: string, fill: number, budgetMb: number) {
  const whole = Buffer.from(await (await fetch(`http://127.0.0.1:${port}${path}`)).arrayBuffer())
  t.equal(whole.length, 5 * MB)
  t.ok(whole.every((b) => b === fill))
  const serverClosed: Array<Promise<void>> = []
  ctx.app.server.on(
    'connection',
    (socket: Socket) => void serverClosed.push(new Promise((resolve) => socket.once('close', () => resolve()))),
  )
  const before = used()
  const readers = Array.from({ length: 40 }, () =>
    stalledClient(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, undefined, { pauseAfterFirstData: true }),
  )
  t.teardown(() => readers.forEach((c) => c.socket.destroy()))
  const answers = await within(Promise.all(readers.map((c) => c.answered)), 'the first bytes to each reader')
  t.ok(answers.every((a) => a === 'HTTP/1.1 200 OK'))
  const grown = used() - before
  t.ok(
    grown < budgetMb * MB,
    `40 readers that stopped reading hold ${Math.round(grown / MB)} MB (budget ${budgetMb} MB; a copy each would be 200 MB)`,
  )
  t.equal(serverClosed.length, 40)
  await within(Promise.all(serverClosed), 'the server to close the readers that stopped reading')
  t.pass('every idle reader closed by the server')
}

t.test('3. readers that never read a held 5 MB file hold a slice each, and are closed when idle', async (t) => {
  const ctx = await buildTestApp(t, { build: { httpLimits: IDLE_ONLY } })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  const now = Date.now()
  const id = await ctx.app.store.transaction((trx) =>
    insertHeldMedia(
      trx,
      { sourceUrl: 'https://e.co/big.jpg', contentType: 'image/jpeg', name: 'big.jpg', bytes: new Uint8Array(5 * MB).fill(7) },
      now,
    ),
  )
  await readersThatStopReading(t, ctx, port, `/media/${heldMediaToken(ctx.config, id, now + 86_400_000)}/big.jpg`, 7, 32)
})

t.test("3. readers that never read a customer's 5 MB picture (passed through from Twilio) hold a socket's buffer each", async (t) => {
  const ctx = await buildTestApp(t, { build: { httpLimits: IDLE_ONLY } })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  const sent = ctx.twilio.addInboundMessage({
    from: '+14155550123',
    to: ctx.config.twilio.phoneNumbers[0]!,
    body: '',
    media: [{ contentType: 'image/jpeg', data: Buffer.alloc(5 * MB, 9) }],
  })
  const form = inboundForm(ctx, {
    MessageSid: sent.sid,
    Body: '',
    NumMedia: '1',
    MediaUrl0: ctx.twilio.mediaUrl(sent, 0),
    MediaContentType0: 'image/jpeg',
  })
  const res = await fetch(`http://127.0.0.1:${port}/twilio/sms`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': signTwilio(ctx.twilio.authToken, `${PUBLIC_URL}/twilio/sms`, form),
    },
    body: new URLSearchParams(form).toString(),
  })
  t.equal(res.status, 200)
  const row = await ctx.app.store.db.selectFrom('messages').select('id').where('twilio_sid', '=', sent.sid).executeTakeFirstOrThrow()
  await readersThatStopReading(t, ctx, port, `/media/${mediaToken(ctx.config, row.id, 0, Date.now() + 86_400_000)}/picture-1.jpg`, 9, 48)
})

t.test('3. connections beyond the cap are closed as they open', async (t) => {
  const ctx = await buildTestApp(t, { build: { httpLimits: { ...SHORT, maxConnections: 5 } } })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  const held = Array.from({ length: 5 }, () => stalledClient(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'))
  t.teardown(() => held.forEach((c) => c.socket.destroy()))
  await within(Promise.all(held.map((c) => new Promise((resolve) => c.socket.once('connect', resolve)))), 'five connections')
  // The server counts a connection when it accepts it: once the five are in, a sixth is closed unanswered.
  const count = () => new Promise<number>((resolve) => ctx.app.server.getConnections((_, n) => resolve(n)))
  for (let i = 0; i < 500 && (await count()) < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const extra = stalledClient(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  t.teardown(() => extra.socket.destroy())
  t.equal(await within(extra.answered, 'the sixth connection to be answered or closed'), null)
  t.pass('the sixth connection is closed unanswered')
  await within(Promise.all(held.map((c) => c.closed)), 'the five half-sent requests to time out')
})

/**
 * A request refused before its body arrived (here: no signature header) is answered with
 * `Connection: close` and closed, so the server never reads the rest of the body only to drop it. The
 * request timeout is made long: kept open, this connection would wait for its body well past the
 * test's bound. A refused request whose small body arrived whole keeps its connection for the next.
 */
t.test('3. a request refused before its body arrived closes its connection instead of reading the rest', async (t) => {
  const LONG = { requestTimeoutMs: 10 * 60_000, idleTimeoutMs: 10 * 60_000, keepAliveTimeoutMs: 10 * 60_000 }
  const ctx = await buildTestApp(t, { build: { httpLimits: LONG } })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  const serverSockets: Socket[] = []
  ctx.app.server.on('connection', (socket: Socket) => void serverSockets.push(socket))
  const headersOf = (c: Client) =>
    new Promise<string>((resolve) => {
      let text = ''
      c.socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1')
        if (text.includes('\r\n\r\n')) resolve(text.split('\r\n\r\n')[0]!.toLowerCase())
      })
    })
  const form = (path: string, length: number) =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${length}\r\n\r\n`

  // 16 KB sent of a declared 256 KB, then nothing.
  const partial = stalledClient(port, form('/twilio/sms', 256 * 1024), Buffer.alloc(16 * 1024, 0x61))
  t.teardown(() => partial.socket.destroy())
  const head = await within(headersOf(partial), 'the answer to the partial body')
  t.match(head, /^http\/1\.1 403 forbidden/)
  t.match(head, /\r\nconnection: close(\r\n|$)/, 'answered with Connection: close')
  await within(partial.closed, 'the server to close the connection it did not read the body of')
  t.ok(serverSockets[0]!.bytesRead < 256 * 1024, `the server read ${serverSockets[0]!.bytesRead} bytes of the 256 KB declared`)

  // A whole small body, refused the same way: the connection stays for the next request.
  const body = 'MessageSid=SM123&Body=hi'
  const whole = stalledClient(port, form('/twilio/sms', body.length) + body)
  t.teardown(() => whole.socket.destroy())
  const wholeHead = await within(headersOf(whole), 'the answer to the whole body')
  t.match(wholeHead, /^http\/1\.1 403 forbidden/)
  t.match(wholeHead, /\r\nconnection: keep-alive(\r\n|$)/, 'the connection is kept')
  whole.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  const second = await within(
    new Promise<string>((resolve) =>
      whole.socket.on('data', (c: Buffer) => c.toString('latin1').includes('HTTP/1.1 200') && resolve('200')),
    ),
    'the second answer on the kept connection',
  )
  t.equal(second, '200')
})
