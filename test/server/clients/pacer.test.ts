import t from 'tap'
import { RatePacer, INTERCOM_WINDOW_MS, readRateHeaders } from '../../../server/clients/pacer.js'
import type { Lane } from '../../../server/queue/lanes.js'
import { TestClock } from '../../support/clock.js'

/** A few turns of the event loop, for granted promises to run their callbacks. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

/**
 * An Intercom as the pacer sees it: `limit` calls per window starting at `start`; each granted call is
 * answered at once with the headers a real answer carries. Records who was let through, in order.
 */
function fakeIntercom(pacer: RatePacer, clock: TestClock, limit: number) {
  let resetAt = clock.now() + INTERCOM_WINDOW_MS
  let remaining = limit
  const granted: string[] = []
  let refused = 0
  const call = (name: string, lane: Lane) =>
    pacer.acquire(lane).then(() => {
      if (clock.now() >= resetAt) {
        resetAt += INTERCOM_WINDOW_MS * Math.ceil((clock.now() - resetAt + 1) / INTERCOM_WINDOW_MS)
        remaining = limit
      }
      if (remaining <= 0) refused++
      else remaining--
      granted.push(name)
      pacer.settle({ limit, remaining, resetInMs: resetAt - clock.now() })
    })
  return { call, granted, refused: () => refused }
}

t.test('the limit learned from the first answer is spent evenly, never past it', async (t) => {
  const clock = new TestClock(1_000_000)
  const pacer = new RatePacer(clock)
  const intercom = fakeIntercom(pacer, clock, 10)
  for (let i = 0; i < 35; i++) void intercom.call(`inbound ${i}`, 'inbound')
  await turns()
  t.ok(intercom.granted.length <= 2, 'the first calls go at once; the rest wait for their turn')
  for (let step = 0; step < 40; step++) {
    clock.advance(INTERCOM_WINDOW_MS / 10)
    await turns()
  }
  t.equal(intercom.refused(), 0, 'no call was refused')
  t.ok(intercom.granted.length >= 30, `about the limit each window went through (${intercom.granted.length} in 4 windows)`)
  t.ok(intercom.granted.length <= 35)
})

t.test('a reply waiting with inbound callers goes first, without waiting for its turn', async (t) => {
  const clock = new TestClock(1_000_000)
  const pacer = new RatePacer(clock)
  const intercom = fakeIntercom(pacer, clock, 10)
  void intercom.call('first', 'inbound')
  await turns()
  void intercom.call('second', 'inbound')
  await turns()
  for (let i = 0; i < 5; i++) void intercom.call(`bulk ${i}`, 'bulk')
  for (let i = 0; i < 5; i++) void intercom.call(`inbound ${i}`, 'inbound')
  void intercom.call('reply', 'reply')
  await turns()
  t.same(intercom.granted, ['first', 'reply'], 'the reply went as soon as it asked; the second inbound waits for its spacing')
  clock.advance(INTERCOM_WINDOW_MS / 8)
  await turns()
  t.same(intercom.granted.slice(2), ['second'], 'then the inbound caller that waited longest')
  clock.advance(INTERCOM_WINDOW_MS / 8)
  await turns()
  t.equal(intercom.granted[3], 'inbound 0', 'then inbound before bulk')
})

t.test('INTERCOM_RATE_SHARE caps the share of each window the bridge takes', async (t) => {
  const clock = new TestClock(1_000_000)
  const pacer = new RatePacer(clock, 0.5)
  const intercom = fakeIntercom(pacer, clock, 20)
  for (let i = 0; i < 40; i++) void intercom.call(`inbound ${i}`, 'inbound')
  for (let step = 0; step < 9; step++) {
    clock.advance(INTERCOM_WINDOW_MS / 10)
    await turns()
  }
  t.ok(intercom.granted.length <= 10, `at most half of the first window's 20 calls (${intercom.granted.length})`)
  t.ok(intercom.granted.length >= 8, 'and about that many')
})

t.test('answers without rate headers hold nothing back', async (t) => {
  const clock = new TestClock(1_000_000)
  const pacer = new RatePacer(clock)
  let granted = 0
  await Promise.all(Array.from({ length: 20 }, () => pacer.acquire('bulk').then(() => (granted++, pacer.settle(null)))))
  t.equal(granted, 20)
  const date = new Date(1_699_999_996_000).toUTCString()
  t.same(
    readRateHeaders(new Headers({ 'x-ratelimit-limit': '167', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '1700000000', date })),
    {
      limit: 167,
      remaining: 3,
      resetInMs: 4_000,
    },
    "the reset counts from the answer's Date, Intercom's clock, not ours",
  )
  t.equal(
    readRateHeaders(new Headers({ 'x-ratelimit-limit': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1700000000' }), 1_000)
      ?.resetInMs,
    60_000,
    'a reset far off waits a minute at most',
  )
  t.equal(readRateHeaders(new Headers()), null)
})
