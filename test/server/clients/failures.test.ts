import t from 'tap'
import twilio from 'twilio'
import { IntercomError, IntercomTimeoutError } from 'intercom-client'
import { intercomFailure } from '../../../server/clients/intercom.js'
import { twilioFailure } from '../../../server/clients/twilio.js'

// Each adapter reads its own SDK's error (never a cast to a guessed shape) and says what the job
// layer does next: retry with backoff, wait the time asked, or give up.

const rest = (statusCode: number, body: unknown) => new twilio.RestException({ statusCode, body })
const refused = (connect = 'ECONNREFUSED') => Object.assign(new Error(`connect ${connect} 127.0.0.1:9`), { code: connect })

t.test('Twilio', async (t) => {
  const cases: Array<[string, unknown, string, number | undefined]> = [
    ['no answer', refused(), 'retry', undefined],
    ['a 500', rest(500, { code: 20500, message: 'Internal error' }), 'retry', 500],
    ['a 429', rest(429, { code: 20429, message: 'Too many requests' }), 'wait', 429],
    ['a code Twilio calls temporary (21611 queue full)', rest(400, { code: 21611, message: 'This From number has exceeded the maximum number of queued messages' }), 'retry', 400],
    ['a 401 on any call', rest(401, { code: 20003, message: 'Authenticate' }), 'give_up', 401],
    ['opted out (21610)', rest(400, { code: 21610, message: 'Attempt to send to unsubscribed recipient' }), 'give_up', 400],
    ['a 404', rest(404, { code: 20404, message: 'The requested resource was not found' }), 'give_up', 404],
  ]
  for (const [name, err, outcome, status] of cases) {
    const failure = twilioFailure(err, 'send the text')
    t.equal(failure.outcome, outcome, name)
    t.equal(failure.status, status, `${name}: status kept`)
    t.equal(failure.api, 'twilio')
    t.equal(failure.cause, err, `${name}: the SDK's error is the cause`)
  }
  t.match(twilioFailure(rest(401, { code: 20003, message: 'Authenticate' }), 'list recent texts').message, 'Twilio refused to list recent texts (401, error 20003): Authenticate')
  t.equal(twilioFailure(rest(429, { code: 20429, message: 'slow down' }), 'x').details.waitMs, 5_000)
})

t.test('Intercom', async (t) => {
  const now = Date.UTC(2026, 11, 3, 12)
  const withReset = (seconds: number) => new IntercomError({ statusCode: 429, body: {}, rawResponse: { headers: new Headers({ 'x-ratelimit-reset': String(seconds) }), redirected: false, status: 429, statusText: '', type: 'basic', url: '' } })
  const cases: Array<[string, unknown, string, number | undefined]> = [
    ['no answer', new TypeError('fetch failed: connect ECONNREFUSED 127.0.0.1:9'), 'retry', undefined],
    ['a timeout', new IntercomTimeoutError('timed out'), 'retry', undefined],
    ['a 503', new IntercomError({ statusCode: 503, body: {} }), 'retry', 503],
    ['a 408', new IntercomError({ statusCode: 408, body: {} }), 'retry', 408],
    ['a 429', withReset(now / 1000 + 30), 'wait', 429],
    ['a 401', new IntercomError({ statusCode: 401, body: { type: 'error.list', errors: [{ code: 'unauthorized', message: 'Access Token Invalid' }] } }), 'give_up', 401],
    ['a 404', new IntercomError({ statusCode: 404, body: {} }), 'give_up', 404],
  ]
  for (const [name, err, outcome, status] of cases) {
    const failure = intercomFailure(err, 'add a note to the conversation', now)
    t.equal(failure.outcome, outcome, name)
    t.equal(failure.status, status, `${name}: status kept`)
    t.equal(failure.api, 'intercom')
  }
  t.equal(intercomFailure(withReset(now / 1000 + 30), 'x', now).details.waitMs, 30_000, 'waits until the reset Intercom names')
  t.equal(intercomFailure(withReset(now / 1000 + 3600), 'x', now).details.waitMs, 120_000, 'at most two minutes')
  t.match(intercomFailure(cases[5]![1], 'add a note', now).message, 'Intercom refused to add a note (401): unauthorized: Access Token Invalid')
  t.ok(intercomFailure(new IntercomError({ statusCode: 404, body: {} }), 'x').notFound)
})
