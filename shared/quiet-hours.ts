import ct from 'countries-and-timezones'

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number)
  return h! * 60 + m!
}

/** Wall-clock minutes since midnight at `at` in `timeZone`. */
function localMinutes(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at)
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value)
  return get('hour') * 60 + get('minute')
}

/**
 * When an automated text may go out: null if now is outside the quiet window, else the first minute
 * after the window ends in `timeZone`. The window may span midnight (21:00-08:00).
 */
export function quietUntil(now: number, window: string, timeZone: string): number | null {
  const [startText, endText] = window.split('-') as [string, string]
  const start = minutesOf(startText)
  const end = minutesOf(endText)
  const local = localMinutes(now, timeZone)
  const quiet = start <= end ? local >= start && local < end : local >= start || local < end
  if (!quiet) return null
  const wait = (end - local + 24 * 60) % (24 * 60)
  // Whole minutes, then back to the minute boundary (DST shifts within the wait are ignored).
  return now + wait * 60_000 - (now % 60_000)
}

/**
 * The contact's time zone from Intercom's location data (a country name such as "Ireland", or a
 * two-letter code), when that country has exactly one; otherwise (unknown, or a country spanning
 * several zones) the configured fallback.
 */
export function contactTimeZone(country: string | null | undefined, fallback: string): string {
  if (!country) return fallback
  const wanted = country.trim().toLowerCase()
  const found =
    ct.getCountry(country.trim().toUpperCase()) ??
    Object.values(ct.getAllCountries()).find((c) => c.name.toLowerCase() === wanted || c.name.toLowerCase().startsWith(`${wanted} of`))
  const zones = found?.timezones ?? []
  return zones.length === 1 ? zones[0]! : fallback
}
