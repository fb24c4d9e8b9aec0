import t from 'tap'
import { IntercomApi, createIntercomClient } from '../../../server/clients/intercom.js'
import { RatePacer } from '../../../server/clients/pacer.js'
import { startIntercomStandIn } from '../../../sandbox/intercom/index.js'
import { tempStore } from '../../support/db.js'
import { TestClock } from '../../support/clock.js'

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

t.test('the stand-in enforces a limit per 10-second window as Intercom does: 429 rate_limit_exceeded and its headers', async (t) => {
  const intercom = await startIntercomStandIn()
  t.teardown(() => intercom.close())
  intercom.rateLimit = 2
  const get = () => fetch(`${intercom.url}/me`, { headers: { authorization: `Bearer ${intercom.token}`, 'intercom-version': '2.16' } })
  const answers = [await get(), await get(), await get()]
  t.same(
    answers.map((a) => a.status),
    [200, 200, 429],
  )
  const refused = answers[2]!
  t.equal(refused.headers.get('x-ratelimit-limit'), '2')
  t.equal(refused.headers.get('x-ratelimit-remaining'), '0')
  t.ok(Number(refused.headers.get('x-ratelimit-reset')) * 1000 > Date.now() - 1_000, 'the reset is when the window starts again')
  t.match(await refused.json(), { type: 'error.list', errors: [{ code: 'rate_limit_exceeded' }] })
})

t.test('the paced adapter learns the limit from the answers and waits for the next window instead of being refused', async (t) => {
  const intercom = await startIntercomStandIn()
  t.teardown(() => intercom.close())
  intercom.rateLimit = 3
  const store = await tempStore(t)
  const clock = new TestClock()
  const pacer = new RatePacer(clock)
  const config = { intercom: { accessToken: intercom.token, apiBaseUrl: intercom.url }, workspaceId: undefined, smsTag: 'SMS' }
  const api = new IntercomApi(createIntercomClient(config.intercom), config as never, store, { pacer })
  const first = intercom.requests.length
  const reads = Array.from({ length: 5 }, (_, i) => api.markRead(String(1000 + i)).catch(() => 'failed'))
  await turns()
  // The clock stands still: the pacer lets calls through only within the window's limit.
  for (let i = 0; i < 10 && intercom.requests.length - first < 3; i++) {
    clock.advance(1_000)
    await turns()
  }
  await turns(50)
  const seen = intercom.requests.slice(first)
  t.equal(seen.length, 3, 'three calls made: the limit of the window')
  t.notOk(
    seen.some((r) => r.status === 429),
    'none refused',
  )
  t.equal(pacer.queued, 2, 'the other two wait for the next window')
  void reads
})
