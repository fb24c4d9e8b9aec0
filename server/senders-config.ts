import { z } from 'zod'
import { isSupportedCountry } from 'libphonenumber-js'
import { maskPhone } from '../shared/log.js'
import { jsonSetting } from './json-setting.js'

// SENDERS: per-number settings, one JSON object keyed by our number (E.164) or the Messaging
// Service's SID. Entries are strict objects, so a misspelt field is an error, not silently ignored;
// a later field is one more line in `senderSettings`. A sender's throughput and daily cap are read
// only through server/bridge/pacing.ts senderLimits.

const intercomId = z.string().regex(/^\d{1,20}$/, 'expected an Intercom id (digits), as GET /teams or GET /admins lists it')

const senderSettings = z.strictObject(
  {
    /** A tag put on conversations a text to this number opens (besides SMS_TAG). */
    tag: z.string().trim().min(1, 'expected a tag name').max(100, 'expected a tag name of at most 100 characters').optional(),
    /** The team those conversations are assigned to. */
    team: intercomId.optional(),
    /** The teammate (admin) those conversations are assigned to. */
    teammate: intercomId.optional(),
    /** Destination countries this number texts first (a customer with no number of ours yet). */
    countries: z
      .array(
        z
          .string()
          .transform((c) => c.toUpperCase())
          .refine((c) => isSupportedCountry(c), 'expected two-letter country codes such as "CA"'),
      )
      .min(1, 'expected at least one country')
      .optional(),
    /** Texts a second Twilio sends from this sender (its MPS): unset, Twilio's default for its type. */
    rate: z
      .number({ error: 'expected a number of texts a second, such as 1' })
      .positive('expected more than 0 texts a second')
      .max(10_000, 'expected at most 10000 texts a second')
      .optional(),
    /** At most this many automated and bulk texts from this sender per carrier day (Pacific time). */
    dailyCap: z.number({ error: 'expected a whole number of texts a day' }).int().min(1).optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field(s) ${issue.keys.join(', ')} (known: tag, team, teammate, countries, rate, dailyCap)`
        : 'expected an object such as {"tag":"sales","team":"123","countries":["CA"]}',
  },
)

export type SenderSettings = z.output<typeof senderSettings>

const senderKey = z
  .string()
  .regex(/^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})$/, 'expected keys that are our numbers in E.164 or the Messaging Service SID (MG...)')

export const sendersSetting = jsonSetting('{"+14155550100":{"tag":"sales","team":"123","countries":["US"]}}').pipe(
  z.record(senderKey, senderSettings, {
    error: (issue) =>
      issue.code === 'invalid_key'
        ? 'expected keys that are our numbers in E.164 or the Messaging Service SID (MG...)'
        : 'expected an object of senders (numbers or MG...) to their settings',
  }),
)

/** Where in SENDERS an issue is, our numbers masked: ` (at +*******0100.team)`, or '' at its top. */
export function senderIssuePlace(path: PropertyKey[]): string {
  const rest = path.slice(1).map((p) => maskPhone(String(p)))
  return rest.length ? ` (at ${rest.join('.')})` : ''
}

/**
 * Rules across SENDERS and the sender settings, on the raw values (reported with every other
 * problem): each number must be one of ours, the service key the service set, a country claimed once.
 */
export function sendersProblems(raw: {
  SENDERS?: string | undefined
  TWILIO_PHONE_NUMBER?: string | undefined
  TWILIO_MESSAGING_SERVICE_SID?: string | undefined
}): string[] {
  if (!raw.SENDERS?.trim()) return []
  const parsed = sendersSetting.safeParse(raw.SENDERS)
  if (!parsed.success) return [] // reported by the schema
  const numbers = new Set(
    (raw.TWILIO_PHONE_NUMBER ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean),
  )
  const service = raw.TWILIO_MESSAGING_SERVICE_SID?.trim() || null
  const problems: string[] = []
  const claimed = new Map<string, string>()
  for (const [key, entry] of Object.entries(parsed.data)) {
    const shown = maskPhone(key)
    if (key.startsWith('MG')) {
      if (key !== service) problems.push(`SENDERS is invalid: ${key} is not TWILIO_MESSAGING_SERVICE_SID`)
      if (entry.countries) problems.push(`SENDERS is invalid: countries go on a number, not on the Messaging Service (${key})`)
    } else if (!numbers.has(key) && !service) {
      problems.push(`SENDERS is invalid: ${shown} is not in TWILIO_PHONE_NUMBER`)
    }
    for (const country of entry.countries ?? []) {
      const first = claimed.get(country)
      if (first) problems.push(`SENDERS is invalid: ${country} is the first-contact country of both ${maskPhone(first)} and ${shown}`)
      else claimed.set(country, key)
    }
  }
  return problems
}
