import { migrate, openStore } from '../../shared/db/database.js'
import { consentHistory, consentLedger } from '../../shared/db/consent.js'
import type { ConsentEvent } from '../../shared/db/schema.js'
import { maskPhone } from '../../shared/log.js'
import { parsePersonArgs } from './privacy.js'
import type { Config } from '../config.js'

export const CONSENT_USAGE = 'Usage: sms-bridge consent --phone <number> | consent --export [--format csv|json]'

type ConsentArgs = { phone: string } | { export: 'csv' | 'json' }

/** `--phone N`, or `--export` with an optional `--format csv|json` (JSON unless told); null otherwise. */
export function parseConsentArgs(args: string[], config: Pick<Config, 'defaultCountry'>): ConsentArgs | null {
  if (args[0] === '--export') {
    if (args.length === 1) return { export: 'json' }
    const format = args[2]
    return args.length === 3 && args[1] === '--format' && (format === 'csv' || format === 'json') ? { export: format } : null
  }
  const ref = parsePersonArgs(args, config)
  return ref && 'phone' in ref ? { phone: ref.phone } : null
}

/** `sms-bridge consent`: one number's consent history, or the whole ledger, printed. */
export async function runConsentCommand(args: string[], config: Config, out: (line: string) => void = console.log): Promise<number> {
  const parsed = parseConsentArgs(args, config)
  if (!parsed) {
    console.error(CONSENT_USAGE)
    return 2
  }
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    await migrate(store)
    if ('phone' in parsed) out(historyText(parsed.phone, await consentHistory(store.db, parsed.phone)))
    else out(exportText(parsed.export, await consentLedger(store.db)))
    return 0
  } finally {
    await store.close()
  }
}

const STATES = { opted_out: 'opted out', opted_in: 'opted in' } as const

/** The operator asked for this number: it is printed in full, here only. */
function historyText(phone: string, events: ConsentEvent[]): string {
  if (events.length === 0) return `No consent changes recorded for ${phone}.`
  const lines = events.map((e) => {
    const evidence = [
      e.text !== null ? `text ${JSON.stringify(e.text)}` : null,
      e.number ? `our number ${e.number}` : null,
      e.message_sid ? `message ${e.message_sid}` : null,
      e.actor ? `by ${e.actor}` : null,
      e.conversation_id ? `conversation ${e.conversation_id}` : null,
      e.contact_id ? `contact ${e.contact_id}` : null,
      e.consent_given ? 'consent to automated texts given' : null,
    ].filter((part) => part !== null)
    return `${new Date(e.created_at).toISOString()}  ${STATES[e.state]}  ${e.source}${evidence.length ? `  (${evidence.join(', ')})` : ''}`
  })
  return [`Consent history of ${phone}, oldest first:`, ...lines].join('\n')
}

const COLUMNS = [
  'id',
  'time',
  'phone',
  'state',
  'source',
  'consent_given',
  'text',
  'our_number',
  'message_sid',
  'actor',
  'conversation_id',
  'contact_id',
] as const

/** Every event; customers' numbers masked (an export travels: `--phone` gives one in full). */
function exportRows(events: ConsentEvent[]): Array<Record<(typeof COLUMNS)[number], string | number | null>> {
  return events.map((e) => ({
    id: e.id,
    time: new Date(e.created_at).toISOString(),
    phone: maskPhone(e.phone),
    state: e.state,
    source: e.source,
    consent_given: e.consent_given,
    text: e.text,
    our_number: e.number,
    message_sid: e.message_sid,
    actor: e.actor,
    conversation_id: e.conversation_id,
    contact_id: e.contact_id,
  }))
}

function exportText(format: 'csv' | 'json', events: ConsentEvent[]): string {
  const rows = exportRows(events)
  if (format === 'json') return JSON.stringify({ exported_at: new Date().toISOString(), events: rows }, null, 2)
  // RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
  const field = (v: string | number | null) => {
    const s = v === null ? '' : String(v)
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  return [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((c) => field(r[c])).join(','))].join('\n')
}
