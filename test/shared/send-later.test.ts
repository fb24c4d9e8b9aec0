import t from 'tap'
import {
  nextBusinessMorning,
  openingHours,
  parseChosenTime,
  tomorrowAt,
  zonedInstant,
  zoneOfPlace,
  MAX_SCHEDULE_AHEAD_MS,
} from '../../shared/send-later.js'

const at = (iso: string) => Date.parse(iso)
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().slice(0, 16))
/** The 2.16 description's example: Monday and Tuesday, 9:00-17:00. */
const EXAMPLE = {
  twentyFourSeven: false,
  intervals: [
    { start_minute: 540, end_minute: 1020 },
    { start_minute: 1980, end_minute: 2460 },
  ],
}

t.test('zonedInstant: wall clock to instant, across DST changes', async (t) => {
  const cases: Array<[string, string, string, boolean]> = [
    // zone, local time, the instant (UTC), whether that local time exists
    ['Europe/Dublin', '2026-07-01 09:00', '2026-07-01T08:00', true],
    ['Europe/Dublin', '2026-12-08 09:00', '2026-12-08T09:00', true],
    ['America/New_York', '2026-03-08 02:30', '2026-03-08T07:30', false], // skipped: 03:30 EDT
    ['America/New_York', '2026-03-08 03:30', '2026-03-08T07:30', true],
    ['America/New_York', '2026-11-01 01:30', '2026-11-01T05:30', true], // twice: the first (EDT)
    ['Australia/Sydney', '2026-04-05 02:30', '2026-04-04T15:30', true], // twice: the first (AEDT)
    ['Australia/Sydney', '2026-10-04 02:30', '2026-10-03T16:30', false], // skipped
    ['Asia/Kolkata', '2026-01-01 00:00', '2025-12-31T18:30', true],
  ]
  for (const [zone, local, want, exists] of cases) {
    const [d, hm] = local.split(' ') as [string, string]
    const [year, month, day] = d.split('-').map(Number) as [number, number, number]
    const [hour, minute] = hm.split(':').map(Number) as [number, number]
    const got = zonedInstant({ year, month, day, hour, minute }, zone)
    t.same({ at: iso(got.at), exists: got.exists }, { at: want, exists }, `${zone} ${local}`)
  }
})

t.test('tomorrowAt 9:00 their time, on the day after theirs (not ours), DST nights included', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['2026-12-07T23:30Z', 'Europe/Dublin', '2026-12-08T09:00'],
    ['2026-12-07T23:30Z', 'Asia/Tokyo', '2026-12-09T00:00'], // already the 8th in Tokyo: the 9th, 09:00 JST
    ['2026-03-07T15:00Z', 'America/New_York', '2026-03-08T13:00'], // the spring-forward day: 09:00 EDT
    ['2026-10-31T15:00Z', 'America/New_York', '2026-11-01T14:00'], // the fall-back day: 09:00 EST
  ]
  for (const [now, zone, want] of cases) t.equal(iso(tomorrowAt(at(now), zone)), want, `${now} in ${zone}`)
})

t.test('openingHours: from Intercom minutes-of-week; none is Monday to Friday; 24/7 every day', async (t) => {
  t.same(openingHours(EXAMPLE), ['09:00', '09:00', null, null, null, null, null])
  t.same(openingHours(null), ['09:00', '09:00', '09:00', '09:00', '09:00', null, null])
  t.same(openingHours({ twentyFourSeven: true, intervals: [] }), Array(7).fill('09:00'))
  t.same(
    openingHours({
      twentyFourSeven: false,
      intervals: [
        { start_minute: 6 * 1440 + 630, end_minute: 6 * 1440 + 700 },
        { start_minute: 6 * 1440 + 600, end_minute: 6 * 1440 + 620 },
      ],
    }),
    [null, null, null, null, null, null, '10:00'],
    'the earliest opening of a day',
  )
})

t.test('nextBusinessMorning: the next day the workspace opens, at its opening hour on their clock', async (t) => {
  const cases: Array<[string, string, typeof EXAMPLE | null, string]> = [
    // 2026-12-07 is a Monday.
    ['2026-12-07T07:00Z', 'Europe/Dublin', EXAMPLE, '2026-12-07T09:00'], // before Monday's opening: today
    ['2026-12-07T10:00Z', 'Europe/Dublin', EXAMPLE, '2026-12-08T09:00'], // after: Tuesday
    ['2026-12-08T10:00Z', 'Europe/Dublin', EXAMPLE, '2026-12-14T09:00'], // Tuesday after opening: next Monday
    ['2026-12-08T10:00Z', 'Australia/Sydney', EXAMPLE, '2026-12-13T22:00'], // Monday 09:00 AEDT
    ['2026-12-11T18:00Z', 'America/Los_Angeles', null, '2026-12-14T17:00'], // Friday: Monday 09:00 PST
    ['2026-03-06T18:00Z', 'America/New_York', null, '2026-03-09T13:00'], // over the spring-forward weekend: 09:00 EDT
  ]
  for (const [now, zone, hours, want] of cases) t.equal(iso(nextBusinessMorning(at(now), zone, hours)), want, `${now} in ${zone}`)
})

t.test('parseChosenTime: their clock, real, ahead, within 35 days', async (t) => {
  const now = at('2026-12-07T12:00Z')
  const cases: Array<[string, string, string | { problem: string }]> = [
    ['2026-12-24 09:30', 'Europe/Dublin', '2026-12-24T09:30'],
    [' 2026-12-24T9:30 ', 'America/New_York', '2026-12-24T14:30'],
    ['2026-12-07 11:59', 'Europe/Dublin', { problem: 'past' }],
    ['2026-12-07 12:00', 'Europe/Dublin', { problem: 'past' }],
    ['2026-12-07 12:01', 'Europe/Dublin', '2026-12-07T12:01'],
    ['2027-01-11 12:00', 'Europe/Dublin', '2027-01-11T12:00'], // exactly 35 days
    ['2027-01-11 12:01', 'Europe/Dublin', { problem: 'too_far' }],
    ['2026-02-30 09:00', 'Europe/Dublin', { problem: 'format' }],
    ['2026-12-24 24:00', 'Europe/Dublin', { problem: 'format' }],
    ['tomorrow', 'Europe/Dublin', { problem: 'format' }],
    ['24/12/2026 09:00', 'Europe/Dublin', { problem: 'format' }],
  ]
  for (const [text, zone, want] of cases) {
    const got = parseChosenTime(text, now, zone)
    t.same(got.ok ? iso(got.at) : { problem: got.problem }, want, `${JSON.stringify(text)} in ${zone}`)
  }
  const spring = parseChosenTime('2027-03-14 02:30', at('2027-03-01T00:00Z'), 'America/New_York')
  t.same(spring, { ok: false, problem: 'no_such_time' }, 'a time the clocks skip')
  t.equal(MAX_SCHEDULE_AHEAD_MS, 35 * 86_400_000)
})

t.test("zoneOfPlace: the country's one zone, else the city's or region's, else the fallback", async (t) => {
  const cases: Array<[Record<string, string | null> | null, string]> = [
    [{ country: 'Ireland', region: 'Dublin', city: 'Dublin' }, 'Europe/Dublin'],
    [{ country: 'IE' }, 'Europe/Dublin'],
    [{ country: 'United States', region: 'California', city: 'Los Angeles' }, 'America/Los_Angeles'],
    [{ country: 'United States', region: 'New York', city: 'Brooklyn' }, 'America/New_York'],
    [{ country: 'Australia', region: 'New South Wales', city: 'Sydney' }, 'Australia/Sydney'],
    [{ country: 'United States', region: 'Ohio', city: 'Columbus' }, 'UTC'],
    [{ country: null, region: null, city: 'Paris' }, 'UTC'],
    [null, 'UTC'],
  ]
  for (const [place, want] of cases) t.equal(zoneOfPlace(place, 'UTC'), want, JSON.stringify(place))
})
