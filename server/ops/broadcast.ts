import { readFileSync } from 'node:fs'
import { migrate, openStore, type Store } from '../../shared/db/database.js'
import { listBroadcasts } from '../../shared/db/broadcasts.js'
import { systemClock } from '../../shared/clock.js'
import { fileEntries } from '../bridge/broadcast-audience.js'
import {
  broadcastCounts,
  broadcastReport,
  previewBroadcast,
  type BroadcastCounts,
  type BroadcastPreview,
  type BroadcastReport,
  type Cost,
} from '../bridge/broadcast-report.js'
import {
  controlBroadcast,
  createBroadcast,
  type Audience,
  type BroadcastDeps,
  type Control,
  type ControlOutcome,
  type CreateOutcome,
} from '../bridge/broadcast.js'
import type { Config } from '../config.js'

export const BROADCAST_USAGE = `Usage:
  sms-bridge broadcast create (--segment ID | --tag ID | --file PATH) --template NAME|macro:ID
                              [--purpose marketing|transactional] [--at 2026-12-08T09:00:00Z]
  sms-bridge broadcast preview|confirm|pause|resume|cancel|report ID
  sms-bridge broadcast status ID [--watch]
  sms-bridge broadcast list`

/** What each exclusion means, for the preview and the report. */
export const EXCLUSION_WORDS: Record<string, string> = {
  gone: 'no longer in Intercom',
  no_number: 'no valid mobile number',
  untrusted: "a number the bridge does not trust for the contact (a lead's own claim)",
  country_not_allowed: 'a number in a country not in SMS_ALLOWED_COUNTRIES',
  opted_out: 'opted out (STOP)',
  unsubscribed: 'unsubscribed from SMS in Intercom',
  consent_required: 'no recorded consent (SMS_CONSENT=required)',
  duplicate_number: 'a number another contact of the audience already gets the text at',
  unknown_template: 'the template is unknown',
  macro_unavailable: 'the macro could not be read',
  empty: 'the text came out empty',
}

const CREATE_REFUSALS: Record<Extract<CreateOutcome, { ok: false }>['reason'], string> = {
  unknown_template: 'No such template: name one of SMS_TEMPLATES, or macro:<id>.',
  empty_file: 'The file lists nobody (one contact id or number a line).',
  file_too_long: 'The file lists more than 100,000 contacts: split it.',
  bad_audience: 'A segment or tag id is letters, digits, - and _ (sms-bridge broadcast list shows none: see Intercom).',
}

/** The arguments of `broadcast create`, or a sentence saying what is wrong. */
export function parseCreateArgs(
  args: string[],
): { audience: Audience; template: string; purpose: 'marketing' | 'transactional'; sendAt: number | null } | string {
  const flags = new Map<string, string>()
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i]!, args[i + 1]]
    if (!flag.startsWith('--') || value === undefined || flags.has(flag)) return BROADCAST_USAGE
    flags.set(flag, value)
  }
  const audiences = ['--segment', '--tag', '--file'].filter((f) => flags.has(f))
  if (audiences.length !== 1) return 'Name one audience: --segment ID, --tag ID or --file PATH.'
  const template = flags.get('--template')
  if (!template) return 'Name the text: --template NAME (of SMS_TEMPLATES) or --template macro:ID.'
  const purpose = flags.get('--purpose') ?? 'marketing'
  if (purpose !== 'marketing' && purpose !== 'transactional') return '--purpose is marketing or transactional.'
  const at = flags.get('--at')
  const sendAt = at ? Date.parse(at) : null
  if (sendAt !== null && Number.isNaN(sendAt)) return '--at takes a time such as 2026-12-08T09:00:00Z.'
  const [kind] = audiences
  const audience: Audience =
    kind === '--file'
      ? { kind: 'file', entries: fileEntries(readFileSync(flags.get('--file')!, 'utf8')) }
      : { kind: kind === '--segment' ? 'segment' : 'tag', id: flags.get(kind!)! }
  return { audience, template, purpose, sendAt }
}

const money = (c: Cost) =>
  c.amount === null ? 'unknown' : `${c.amount.toFixed(4)} ${c.unit ?? ''}`.trim() + (c.unpriced ? ` (+${c.unpriced} texts unpriced)` : '')

export function previewLines(p: BroadcastPreview): string[] {
  const b = p.broadcast
  if (b.state === 'expanding')
    return [`Broadcast ${b.id} is still reading its audience (${p.counts.pending + sumOf(p.counts.excluded)} contacts so far).`]
  if (b.state === 'failed') return [`Broadcast ${b.id} could not read its audience: ${b.failure ?? 'unknown'}`]
  const lines = [
    `Broadcast ${b.id} (${b.state}): ${b.audience_kind}${b.audience_ref ? ` ${b.audience_ref}` : ''}, template ${b.template}, ${b.purpose}, from ${new Date(b.send_at).toISOString()}`,
    `  ${p.counts.pending} will receive it${p.later ? ` (${p.later} later, when their quiet hours end)` : ''}; ${sumOf(p.counts.excluded)} excluded:`,
    ...Object.entries(p.counts.excluded).map(([reason, n]) => `    ${n} ${EXCLUSION_WORDS[reason] ?? reason}`),
  ]
  if (b.unmatched) lines.push(`    ${b.unmatched} numbers in the file that no contact is linked to`)
  lines.push(
    `  ${p.segments} segments: ${p.encodings.map((e) => `${e.texts} texts ${e.encoding} (${e.segments} segments)`).join(', ') || 'none'}`,
    `  estimated cost: ${money(p.cost)}`,
    `  consent and Intercom's SMS subscription are checked again as each text goes; texts go at the sender's pace and daily cap`,
    ...p.samples.map((s) => `  to ${s.phone}: ${s.body}`),
  )
  if (b.state === 'ready') lines.push(`Nothing is sent until: sms-bridge broadcast confirm ${b.id}`)
  return lines
}

const sumOf = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0)

export function reportLines(r: BroadcastReport): string[] {
  const c = r.counts
  return [
    `Broadcast ${r.broadcast.id} (${r.broadcast.state}): ${c.sent} sent, ${r.delivered} delivered, ${r.failed.reduce((n, f) => n + f.count, 0)} failed, ${c.skipped} skipped, ${c.pending + c.sending} still to go`,
    ...r.failed.map((f) => `  ${f.count} failed${f.code ? ` with error ${f.code}` : ''}: ${f.meaning}`),
    ...r.skipped.map((s) => `  ${s.count} skipped: ${s.reason}`),
    `  ${r.optedOutAfter} opted out after their text`,
    `  estimated cost of the texts sent: ${money(r.cost)}`,
  ]
}

/** One line of progress: a bar of what is done (sent or skipped) out of everyone who gets it. */
export function progressLine(id: number, state: string, c: BroadcastCounts, width = 30): string {
  const total = c.pending + c.released
  const done = c.sent + c.skipped
  const filled = total ? Math.round((done / total) * width) : width
  const pct = total ? Math.floor((done / total) * 100) : 100
  return `broadcast ${id} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${done}/${total} (${c.sent} sent, ${c.skipped} skipped, ${c.pending} waiting) ${state}`
}

const CONTROL_WORDS: Record<Control, string> = {
  confirm: 'confirmed: the running service sends it',
  pause: 'paused',
  resume: 'resumed',
  cancel: 'cancelled: nothing more is sent',
}

function controlLine(id: number, control: Control, outcome: ControlOutcome): string {
  if (outcome.ok) return `Broadcast ${id} ${CONTROL_WORDS[control]}.`
  if (outcome.reason === 'not_found') return `No broadcast ${id}.`
  return `Broadcast ${id} is ${outcome.state}: it cannot be ${control === 'confirm' ? 'confirmed' : `${control}d`} now.`
}

/** `sms-bridge broadcast ...`: works on the database; the running service reads audiences and sends. */
export async function runBroadcastCommand(args: string[], config: Config, out: (line: string) => void = console.log): Promise<number> {
  const [action, ...rest] = args
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    await migrate(store)
    const deps: BroadcastDeps = { store, config, clock: systemClock }
    return await broadcastAction(deps, { action: action ?? '', rest }, out)
  } finally {
    await store.close()
  }
}

async function broadcastAction(deps: BroadcastDeps, cmd: { action: string; rest: string[] }, out: (line: string) => void): Promise<number> {
  const { action, rest } = cmd
  if (action === 'create') {
    const parsed = parseCreateArgs(rest)
    if (typeof parsed === 'string') return usage(parsed)
    const created = await createBroadcast(deps, { ...parsed, requestedBy: 'cli' })
    if (!created.ok) return usage(CREATE_REFUSALS[created.reason])
    out(
      `Broadcast ${created.id} created. The running service reads its audience; see what it would do with: sms-bridge broadcast preview ${created.id}`,
    )
    return 0
  }
  if (action === 'list') {
    for (const b of await listBroadcasts(deps.store.db))
      out(`${b.id}\t${b.state}\t${b.audience_kind} ${b.audience_ref ?? ''}\t${b.template}\t${new Date(b.send_at).toISOString()}`)
    return 0
  }
  const id = Number(rest[0])
  if (!Number.isInteger(id) || id <= 0) return usage(BROADCAST_USAGE)
  if (action === 'preview' || action === 'report') {
    const lines =
      action === 'preview' ? mapOr(await previewBroadcast(deps, id), previewLines) : mapOr(await broadcastReport(deps, id), reportLines)
    out((lines ?? [`No broadcast ${id}.`]).join('\n'))
    return lines ? 0 : 1
  }
  if (action === 'status') return watch(deps.store, id, rest[1] === '--watch')
  if (action in CONTROL_WORDS) {
    const outcome = await controlBroadcast(deps, id, action as Control)
    out(controlLine(id, action as Control, outcome))
    return outcome.ok ? 0 : 1
  }
  return usage(BROADCAST_USAGE)
}

const mapOr = <T, R>(value: T | null, fn: (v: T) => R): R | null => (value === null ? null : fn(value))

function usage(line: string): number {
  console.error(line)
  return 2
}

/** Seconds between two looks at the database while watching. */
const WATCH_EVERY_MS = 2_000
/** Watching stops by itself after this long without any change. */
const WATCH_IDLE_MS = 10 * 60_000

/**
 * The progress bar, on stderr: redrawn in place on a terminal, a line per change otherwise. Until
 * the broadcast is done, paused, cancelled or failed, or nothing changed for ten minutes.
 */
async function watch(store: Store, id: number, follow: boolean): Promise<number> {
  const { getBroadcast } = await import('../../shared/db/broadcasts.js')
  let last = ''
  let changedAt = Date.now()
  for (;;) {
    const b = await getBroadcast(store.db, id)
    if (!b) return usage(`No broadcast ${id}.`)
    const line = progressLine(id, b.state, await broadcastCounts({ store }, id))
    if (line !== last) {
      process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`)
      ;[last, changedAt] = [line, Date.now()]
    }
    if (!follow || ['done', 'paused', 'cancelled', 'failed', 'ready'].includes(b.state) || Date.now() - changedAt > WATCH_IDLE_MS) break
    await new Promise((resolve) => setTimeout(resolve, WATCH_EVERY_MS))
  }
  if (process.stderr.isTTY) process.stderr.write('\n')
  return 0
}
