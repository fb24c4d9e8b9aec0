import ct from 'countries-and-timezones'
import { contactTimeZone } from './quiet-hours.js'

/**
 * When a text scheduled "in the customer's time" goes: pure functions of a clock reading (`now`, ms)
 * and an IANA time zone, so each is tested by a table (DST changes included). Local times are wall
 * clock in that zone; Intl knows the zones, so no time zone library is needed for this much.
 */

const DAY_MS = 86_400_000
/** Twilio's own scheduling stops at 35 days; the bridge keeps to the same horizon. */
export const MAX_SCHEDULE_AHEAD_MS = 35 * DAY_MS
/** "Tomorrow morning" and a business morning without office hours: 09:00 their time. */
export const MORNING = '09:00'

export interface LocalTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
}

/** The wall clock at `at` in `zone`, with the weekday (0 = Monday, as Intercom's office hours count). */
export function localTime(at: number, zone: string): LocalTime & { weekday: number } {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    weekday: 'short',
    hourCycle: 'h23',
  }).formatToParts(at)
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? ''
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday'))
  return { year: +get('year'), month: +get('month'), day: +get('day'), hour: +get('hour'), minute: +get('minute'), weekday }
}

const asUtc = (t: LocalTime) => Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute)
const same = (a: LocalTime, b: LocalTime) => asUtc(a) === asUtc(b)

/**
 * The instant a wall-clock time happens in `zone`. A time the clocks skip (spring forward) has no
 * instant: `exists` is false and `at` is the same clock reading one offset later (02:30 -> 03:30).
 * A time that happens twice (fall back) is its first occurrence.
 */
export function zonedInstant(t: LocalTime, zone: string): { at: number; exists: boolean } {
  const guess = asUtc(t)
  const offsetAt = (at: number) => asUtc(localTime(at, zone)) - at
  // The zone's offsets half a day either side: at most one change lies between (none in most zones).
  const before = guess - offsetAt(guess - DAY_MS / 2)
  const after = guess - offsetAt(guess + DAY_MS / 2)
  const valid = [before, after].filter((at) => same(localTime(at, zone), t)).sort((a, b) => a - b)
  return valid.length > 0 ? { at: valid[0]!, exists: true } : { at: before, exists: false }
}

/** The calendar day `days` after `t`'s, at `hhmm`. */
function dayAfter(t: LocalTime, days: number, hhmm: string): LocalTime {
  const d = new Date(Date.UTC(t.year, t.month - 1, t.day + days))
  const [hour, minute] = hhmm.split(':').map(Number) as [number, number]
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour, minute }
}

/** "Tomorrow at 9:00 their time": the next calendar day in `zone`, at `hhmm`. */
export function tomorrowAt(now: number, zone: string, hhmm = MORNING): number {
  return zonedInstant(dayAfter(localTime(now, zone), 1, hhmm), zone).at
}

/** A workspace's office hours (GET /office_hours_schedules): open intervals in minutes from Monday 00:00. */
export interface OfficeHours {
  twentyFourSeven: boolean
  intervals: Array<{ start_minute: number; end_minute: number }>
}

/** The opening "HH:MM" on each weekday (0 = Monday), or null when closed that day. */
export function openingHours(hours: OfficeHours | null): Array<string | null> {
  if (!hours || (!hours.twentyFourSeven && hours.intervals.length === 0)) {
    return [MORNING, MORNING, MORNING, MORNING, MORNING, null, null] // no schedule: Monday to Friday
  }
  if (hours.twentyFourSeven) return Array<string>(7).fill(MORNING)
  const days: Array<number | null> = Array<number | null>(7).fill(null)
  for (const { start_minute } of hours.intervals) {
    const day = Math.floor(start_minute / 1440) % 7
    const minute = start_minute % 1440
    if (days[day] === null || minute < days[day]!) days[day] = minute
  }
  const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`
  return days.map((m) => (m === null ? null : hhmm(m)))
}

/**
 * "Their next business morning": the first day, from today in `zone`, that the workspace opens, at
 * its opening hour read as the customer's own clock (a team opening at 9:00 New York time texts a
 * customer in Sydney at 9:00 Sydney time). Today counts while its opening is still ahead.
 */
export function nextBusinessMorning(now: number, zone: string, hours: OfficeHours | null): number | null {
  const opening = openingHours(hours)
  const today = localTime(now, zone)
  for (let days = 0; days <= 7; days++) {
    const open = opening[(today.weekday + days) % 7]
    if (!open) continue
    const at = zonedInstant(dayAfter(today, days, open), zone).at
    if (at > now) return at
  }
  return null
}

export type ChosenTime = { ok: true; at: number } | { ok: false; problem: 'format' | 'no_such_time' | 'past' | 'too_far' }

/** A time a teammate typed, "YYYY-MM-DD HH:MM" on the customer's clock: real, ahead, and within 35 days. */
export function parseChosenTime(text: string, now: number, zone: string): ChosenTime {
  const m = /^\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})\s*$/.exec(text)
  if (!m) return { ok: false, problem: 'format' }
  const t: LocalTime = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]! }
  const d = new Date(asUtc(t))
  const real = d.getUTCMonth() + 1 === t.month && d.getUTCDate() === t.day && t.hour < 24 && t.minute < 60
  if (!real) return { ok: false, problem: 'format' }
  const { at, exists } = zonedInstant(t, zone)
  if (!exists) return { ok: false, problem: 'no_such_time' }
  if (at <= now) return { ok: false, problem: 'past' }
  if (at - now > MAX_SCHEDULE_AHEAD_MS) return { ok: false, problem: 'too_far' }
  return { ok: true, at }
}

/** What Intercom knows of where a contact is (2.16 `location`; a contact has no time zone field). */
export interface ContactPlace {
  country?: string | null | undefined
  region?: string | null | undefined
  city?: string | null | undefined
}

/**
 * The customer's time zone: their country's, when it has one; in a country with several, the zone
 * named after their city or region (Los Angeles, New York, Sydney...); else `fallback`.
 */
export function zoneOfPlace(place: ContactPlace | null | undefined, fallback: string): string {
  const single = contactTimeZone(place?.country ?? null, '')
  if (single) return single
  const country = place?.country?.trim()
  const found = country
    ? (ct.getCountry(country.toUpperCase()) ??
      Object.values(ct.getAllCountries()).find((c) => {
        const name = c.name.toLowerCase()
        return name === country.toLowerCase() || name.startsWith(`${country.toLowerCase()} of`)
      }))
    : undefined
  const names = [place?.city, place?.region].filter((n): n is string => Boolean(n?.trim())).map((n) => n.trim().toLowerCase())
  const zone = found?.timezones.find((z) => names.includes(z.split('/').at(-1)!.replace(/_/g, ' ').toLowerCase()))
  return zone ?? fallback
}

/** "2026-12-08 09:00" on `zone`'s clock. */
export function formatLocal(at: number, zone: string): string {
  const t = localTime(at, zone)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${t.year}-${p(t.month)}-${p(t.day)} ${p(t.hour)}:${p(t.minute)}`
}
