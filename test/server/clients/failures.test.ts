import t, { type Test } from 'tap'
import twilio from 'twilio'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { IntercomError } from 'intercom-client'
import { createIntercomClient, intercomFailure, intercomHost } from '../../../server/clients/intercom.js'
import { createTwilioClient, twilioFailure, twilioHost } from '../../../server/clients/twilio.js'
import { connectionFailure } from '../../../server/clients/reachability.js'

// Each adapter reads its own SDK's error (never a cast to a guessed shape) and says what the job
// layer does next: retry with backoff, wait the time asked, or give up.

const rest = (statusCode: number, body: unknown) => new twilio.RestException({ statusCode, body })

t.test('Twilio', async (t) => {
  const cases: Array<[string, unknown, string, number | undefined]> = [
    ['a 500', rest(500, { code: 20500, message: 'Internal error' }), 'retry', 500],
    ['a 429', rest(429, { code: 20429, message: 'Too many requests' }), 'wait', 429],
    [
      'a code Twilio calls temporary (21611 queue full)',
      rest(400, { code: 21611, message: 'This From number has exceeded the maximum number of queued messages' }),
      'retry',
      400,
    ],
    ['a 401 on any call', rest(401, { code: 20003, message: 'Authenticate' }), 'give_up', 401],
    ['opted out (21610)', rest(400, { code: 21610, message: 'Attempt to send to unsubscribed recipient' }), 'give_up', 400],
    ['a 404', rest(404, { code: 20404, message: 'The requested resource was not found' }), 'give_up', 404],
  ]
  for (const [name, err, outcome, status] of cases) {
    const failure = twilioFailure(err, 'send the text', 'api.twilio.com:443')
    t.equal(failure.outcome, outcome, name)
    t.equal(failure.status, status, `${name}: status kept`)
    t.equal(failure.api, 'twilio')
    t.equal(failure.cause, err, `${name}: the SDK's error is the cause`)
    t.equal(failure.details.unreachable, undefined, `${name}: an answer, not an outage`)
  }
  t.match(
    twilioFailure(rest(401, { code: 20003, message: 'Authenticate' }), 'list recent texts', 'h').message,
    'Twilio refused to list recent texts (401, error 20003): Authenticate',
  )
  t.equal(twilioFailure(rest(429, { code: 20429, message: 'slow down' }), 'x', 'h').details.waitMs, 5_000)
})

t.test('Intercom', async (t) => {
  const now = Date.UTC(2026, 11, 3, 12)
  const withReset = (seconds: number) =>
    new IntercomError({
      statusCode: 429,
      body: {},
      rawResponse: {
        headers: new Headers({ 'x-ratelimit-reset': String(seconds) }),
        redirected: false,
        status: 429,
        statusText: '',
        type: 'basic',
        url: '',
      },
    })
  const cases: Array<[string, unknown, string, number | undefined]> = [
    ['a 503', new IntercomError({ statusCode: 503, body: {} }), 'retry', 503],
    ['a 408', new IntercomError({ statusCode: 408, body: {} }), 'retry', 408],
    ['a 429', withReset(now / 1000 + 30), 'wait', 429],
    [
      'a 401',
      new IntercomError({
        statusCode: 401,
        body: { type: 'error.list', errors: [{ code: 'unauthorized', message: 'Access Token Invalid' }] },
      }),
      'give_up',
      401,
    ],
    ['a 404', new IntercomError({ statusCode: 404, body: {} }), 'give_up', 404],
  ]
  for (const [name, err, outcome, status] of cases) {
    const failure = intercomFailure(err, 'add a note to the conversation', 'api.intercom.io:443', now)
    t.equal(failure.outcome, outcome, name)
    t.equal(failure.status, status, `${name}: status kept`)
    t.equal(failure.api, 'intercom')
    t.equal(failure.details.unreachable, undefined, `${name}: an answer, not an outage`)
  }
  t.equal(intercomFailure(withReset(now / 1000 + 30), 'x', 'h', now).details.waitMs, 30_000, 'waits until the reset Intercom names')
  t.equal(intercomFailure(withReset(now / 1000 + 3600), 'x', 'h', now).details.waitMs, 120_000, 'at most two minutes')
  t.match(
    intercomFailure(cases[3]![1], 'add a note', 'h', now).message,
    'Intercom refused to add a note (401): unauthorized: Access Token Invalid',
  )
  t.ok(intercomFailure(new IntercomError({ statusCode: 404, body: {} }), 'x', 'h').notFound)
})

/** A loopback server that does `onSocket` with each connection (never answering HTTP). */
async function tcp(t: Test, onSocket: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    onSocket(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as AddressInfo).port
}

/** A port that was just free: nothing listens on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

// The errors below are the SDKs' own, thrown by real calls over loopback: the shape each wraps the
// network's failure in is theirs (intercom-client keeps only the fetch error's message; twilio
// rethrows axios's error), not one a test imagined.
t.test("no answer: each SDK's real error names the code and the configured host", async (t) => {
  const situations: Array<[string, () => Promise<number>, string]> = [
    ['nothing listens', closedPort, 'ECONNREFUSED'],
    ['the connection is reset', () => tcp(t, (s) => s.once('data', () => s.resetAndDestroy())), 'ECONNRESET'],
    ['no answer in time', () => tcp(t, () => {}), 'ETIMEDOUT'],
  ]
  for (const [name, start, code] of situations) {
    const port = await start()
    const base = `http://127.0.0.1:${port}`
    const intercomConfig = { accessToken: 'token', apiBaseUrl: base }
    const intercom = createIntercomClient(intercomConfig)
    const thrownByIntercom = await intercom.admins.identify({ timeoutInSeconds: 0.3 }).then(
      () => null,
      (err: unknown) => err,
    )
    const fromIntercom = intercomFailure(thrownByIntercom, 'check the token', intercomHost(intercomConfig))
    t.equal(fromIntercom.outcome, 'retry', `Intercom, ${name}: retried`)
    t.same(connectionFailure(fromIntercom), { api: 'intercom', code, host: `127.0.0.1:${port}` }, `Intercom, ${name}`)
    t.match(fromIntercom.message, `${code} at 127.0.0.1:${port}`)

    const twilioConfig = { accountSid: `AC${'0'.repeat(32)}`, authToken: 'secret', apiBaseUrl: base }
    const client = createTwilioClient(twilioConfig)
    client.timeout = 300
    const thrownByTwilio = await client.messages.list({ limit: 1 }).then(
      () => null,
      (err: unknown) => err,
    )
    const fromTwilio = twilioFailure(thrownByTwilio, 'list recent texts', twilioHost(twilioConfig))
    t.equal(fromTwilio.outcome, 'retry', `Twilio, ${name}: retried`)
    t.same(connectionFailure(fromTwilio), { api: 'twilio', code, host: `127.0.0.1:${port}` }, `Twilio, ${name}`)
  }
  t.equal(twilioHost({ apiBaseUrl: undefined }), 'api.twilio.com:443', 'the real host, with its port')
  t.equal(intercomHost({ apiBaseUrl: 'https://api.eu.intercom.io' }), 'api.eu.intercom.io:443')
})

t.test("Intercom: a merged contact (2.16's 410 with Link) is its own outcome, naming the survivor", async (t) => {
  const gone = (link: string | null) =>
    new IntercomError({
      statusCode: 410,
      body: { type: 'error.list', errors: [{ code: 'contact_merged', message: 'This contact has been merged.' }] },
      rawResponse: { headers: new Headers(link ? { link } : {}), redirected: false, status: 410, statusText: '', type: 'basic', url: '' },
    })
  const cases: Array<[string, string | null, string, string | undefined]> = [
    ["the description's form", '</contacts/6762f0d01bb69f9f2193bb7d>; rel="canonical"', 'merged', '6762f0d01bb69f9f2193bb7d'],
    ['a full URL, rel unquoted', '<https://api.intercom.io/contacts/abc123>; rel=canonical', 'merged', 'abc123'],
    ['among other links', '</contacts/x1>; rel="prev", </contacts/y2>; rel="canonical"', 'merged', 'y2'],
    ['no Link', null, 'give_up', undefined],
    ['a Link that is not canonical', '</contacts/x1>; rel="next"', 'give_up', undefined],
  ]
  for (const [name, link, outcome, into] of cases) {
    const failure = intercomFailure(gone(link), 'read the contact', 'api.intercom.io:443')
    t.equal(failure.outcome, outcome, name)
    t.equal(failure.details.mergedInto, into, `${name}: survivor`)
    t.equal(failure.status, 410)
  }
  t.ok(intercomFailure(new IntercomError({ statusCode: 404, body: {} }), 'x', 'h').contactMissing, 'a 404 may be a merge too (2.14)')
  t.notOk(intercomFailure(new IntercomError({ statusCode: 400, body: {} }), 'x', 'h').contactMissing)
})
