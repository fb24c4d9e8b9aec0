import type { Tx } from '../../shared/db/database.js'
import {
  findPacedText,
  pauseSender,
  readPaces,
  recentOutcomes,
  resumeSender,
  savePace,
  setPacedOutcome,
  type SenderPace,
} from '../../shared/db/pacing.js'
import type { PacedTextTable, SenderPacingTable } from '../../shared/db/schema.js'
import { runIn, type Statement } from '../../shared/db/statement.js'
import { runTasksNow } from '../queue/queue.js'
import { maskPhone } from '../../shared/log.js'
import type { Config } from '../config.js'
import type { BridgeDeps } from './deps.js'

export type SlotAnswer = { go: true } | { go: false; at: number; why: 'rate' | 'daily_cap' | 'paused' }

/**
 * Twilio's default throughput per sender type, in texts a second (Twilio counts segments; the bridge
 * counts texts, so a long text can run a little ahead, which Twilio's own queue absorbs):
 * - a US or Canadian long code (10DLC): 1 a second ("a US long code number can send one message
 *   segment per second, and a short code may send over 100", twilio.com/docs/api/errors/30001). A
 *   registered 10DLC campaign may get more from the carriers: set it in SENDERS ("rate").
 * - a US toll-free number: 3 a second (help.twilio.com "Toll-Free SMS and MMS messaging throughput
 *   (MPS)"); numbers outside +1 get Twilio's standard 10 a second (same article).
 * - a short code: 100 a second (the 30001 page above).
 * - WhatsApp: 10 a second by default (twilio.com/docs/whatsapp/best-practices-and-faqs).
 * - a Messaging Service: the sum of its senders, as far as TWILIO_PHONE_NUMBER lists them, else one
 *   long code's 1 a second (the bridge does not ask Twilio for the service's pool while sending).
 */
const DEFAULT_RATES = { longCodeNanp: 1, tollFree: 3, shortCode: 100, otherNumber: 10, whatsapp: 10 } as const
const TOLL_FREE = /^\+1(800|833|844|855|866|877|888)\d{7}$/

/** The brand's row: its day count only (T-Mobile counts a brand's texts across all its numbers). */
const BRAND = '*'

/** How long a paused sender's texts wait before they ask again; a resume wakes them at once. */
export const PAUSED_RECHECK_MS = 60 * 60_000

/** The tasks whose texts are paced: a resume wakes their held jobs. */
export const PACED_TASKS = ['automated.send', 'broadcast.dispatch']

export interface SenderLimits {
  /** Texts a second. */
  rate: number
  rateSet: boolean
  /** This sender's own cap per carrier day, or null. */
  dailyCap: number | null
  /** All senders' cap together per carrier day (BRAND_DAILY_CAP), or null. */
  brandDailyCap: number | null
}

/** A sender's limits: its entry in SENDERS, else Twilio's defaults for its type. The one reader of its rate and daily cap. */
export function senderLimits(config: Pick<Config, 'senders' | 'brandDailyCap' | 'twilio'>, sender: string): SenderLimits {
  const set = config.senders.get(sender)
  const rate = set?.rate ?? defaultRate(config, sender)
  return { rate, rateSet: set?.rate !== undefined, dailyCap: set?.dailyCap ?? null, brandDailyCap: config.brandDailyCap }
}

function defaultRate(config: Pick<Config, 'senders' | 'twilio'>, sender: string): number {
  if (!sender.startsWith('MG')) return numberRate(sender)
  const numbers = config.twilio.phoneNumbers
  const sum = numbers.reduce((n, number) => n + (config.senders.get(number)?.rate ?? numberRate(number)), 0)
  return sum > 0 ? sum : DEFAULT_RATES.longCodeNanp
}

function numberRate(sender: string): number {
  if (sender.startsWith('whatsapp:')) return DEFAULT_RATES.whatsapp
  if (/^\d{3,8}$/.test(sender)) return DEFAULT_RATES.shortCode
  if (TOLL_FREE.test(sender)) return DEFAULT_RATES.tollFree
  return sender.startsWith('+1') ? DEFAULT_RATES.longCodeNanp : DEFAULT_RATES.otherNumber
}

/**
 * The carrier's day: T-Mobile's daily brand cap resets at midnight Pacific time (Twilio error 30023
 * and T-Mobile's 10DLC terms), so the caps count from that midnight, not UTC's.
 */
const CARRIER_ZONE = 'America/Los_Angeles'
const dayFormat = new Intl.DateTimeFormat('en-CA', { timeZone: CARRIER_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' })
const hourFormat = new Intl.DateTimeFormat('en-GB', { timeZone: CARRIER_ZONE, hour: '2-digit', hourCycle: 'h23' })

export const carrierDay = (now: number) => dayFormat.format(now)

/** The first moment of the next carrier day. */
export function nextCarrierDay(now: number): number {
  const next = new Date(Date.parse(`${carrierDay(now)}T00:00:00Z`) + 24 * 3_600_000).toISOString().slice(0, 10)
  // Pacific midnight is 07:00 or 08:00 UTC: the first of the two that is already that day.
  for (const hour of [7, 8]) {
    const at = Date.parse(`${next}T0${hour}:00:00Z`)
    if (carrierDay(at) === next && hourFormat.format(at) === '00') return at
  }
  return Date.parse(`${next}T08:00:00Z`)
}

const fresh = (sender: string): SenderPace => ({
  sender,
  next_at: 0,
  promised_until: 0,
  day: '',
  day_count: 0,
  paused_at: null,
  paused_why: null,
  paused_detail: null,
})

/**
 * The decision, from the two rows read in the slot's transaction. A text that may not go yet is
 * promised the slot after the last one promised, so a backlog waits in order, each text once
 * (never all woken at once to fight over one slot).
 */
export function decideSlot(rows: { pace: SenderPace; brand: SenderPace }, limits: SenderLimits, now: number) {
  const { pace, brand } = rows
  const day = carrierDay(now)
  const count = (p: SenderPace) => (p.day === day ? p.day_count : 0)
  if (pace.paused_at !== null) return { answer: held(now + PAUSED_RECHECK_MS, 'paused'), save: [] }
  const overCap =
    (limits.dailyCap !== null && count(pace) >= limits.dailyCap) || (limits.brandDailyCap !== null && count(brand) >= limits.brandDailyCap)
  if (overCap) return { answer: held(nextCarrierDay(now), 'daily_cap'), save: [] }
  const interval = 1000 / limits.rate
  // A text promised a slot runs a little late (the worker's claim): the slot is its own for a while,
  // else each late run would send it to the back of the line. Twilio's queue takes the small burst.
  if (pace.next_at > now + Math.max(interval / 2, LATE_RUN_MS)) {
    const at = Math.ceil(Math.max(pace.next_at, pace.promised_until + interval))
    return { answer: held(at, 'rate'), save: [{ ...pace, promised_until: at }] }
  }
  const save = [{ ...pace, next_at: Math.ceil(Math.max(pace.next_at, now) + interval), day, day_count: count(pace) + 1 }]
  if (limits.brandDailyCap !== null) save.push({ ...brand, day, day_count: count(brand) + 1 })
  return { answer: { go: true } as SlotAnswer, save }
}

/** How late a text may run for the slot it was promised and still have it. */
const LATE_RUN_MS = 250

const held = (at: number, why: 'rate' | 'daily_cap' | 'paused'): SlotAnswer => ({ go: false, at, why })

/**
 * Before an automated or bulk text goes to Twilio: may it go now from this sender, or when next?
 * Takes the slot (counts toward the sender's rate and its daily cap) when it answers go. One
 * transaction: processes sharing the database (a restart, a second machine on Turso) share the pace.
 */
export async function takeSendSlot(
  deps: BridgeDeps,
  want: { sender: string; lane: 'automated' | 'bulk' },
  now: number,
): Promise<SlotAnswer> {
  const answer = await deps.store.transaction(async (trx) => {
    const slot = await planSendSlot(trx, deps.config, want.sender, now)
    await runIn(trx, ...slot.save)
    return slot.answer
  })
  if (!answer.go) slotHeld(deps, want.lane, answer)
  return answer
}

/** The same decision inside a caller's transaction: the answer, and the writes that record it. */
export async function planSendSlot(
  trx: Tx,
  config: Pick<Config, 'senders' | 'brandDailyCap' | 'twilio'>,
  sender: string,
  now: number,
): Promise<{ answer: SlotAnswer; save: Statement[] }> {
  const limits = senderLimits(config, sender)
  const rows = await readPaces(trx, [sender, BRAND])
  const decided = decideSlot({ pace: rows.get(sender) ?? fresh(sender), brand: rows.get(BRAND) ?? fresh(BRAND) }, limits, now)
  return { answer: decided.answer, save: decided.save.map((row) => savePace(row, now)) }
}

/** Counts a text held for its sender's pace (the metric). */
export function slotHeld(deps: Pick<BridgeDeps, 'metrics'>, lane: 'automated' | 'bulk', answer: SlotAnswer & { go: false }): void {
  deps.metrics.pacedHolds.inc({ lane, why: answer.why })
}

/**
 * The spike detector: over a sender's last 200 settled automated and bulk texts, it pauses the
 * sender when at least 20 have settled and 5% or more of them (and at least 3) were filtered by a
 * carrier (30007) or refused as opted out (21610). Carriers block a sender whose filtering or
 * opt-out rate stays high; 200 texts is minutes of a campaign at 1 a second, short enough to stop
 * early, and the floors keep one unlucky text from pausing a small send.
 */
export const SPIKE = { window: 200, minSettled: 20, share: 0.05, minRefused: 3 } as const

export interface SpikeDetail {
  why: NonNullable<SenderPacingTable['paused_why']>
  filtered: number
  optedOut: number
  of: number
}

/** Whether these outcomes (newest first) are a spike, and of what. */
export function spikeIn(outcomes: Array<PacedTextTable['outcome']>): SpikeDetail | null {
  const of = outcomes.length
  const filtered = outcomes.filter((o) => o === 'filtered').length
  const optedOut = outcomes.filter((o) => o === 'opted_out').length
  const refused = filtered + optedOut
  if (of < SPIKE.minSettled || refused < SPIKE.minRefused || refused < SPIKE.share * of) return null
  return { why: filtered >= optedOut ? 'carrier_filtering' : 'opt_outs', filtered, optedOut, of }
}

const SETTLED = new Set(['sent', 'delivered', 'read', 'undelivered', 'failed'])
const REFUSED = new Set(['filtered', 'opted_out'])

function outcomeOf(status: string, errorCode: number | null): NonNullable<PacedTextTable['outcome']> {
  if (status !== 'failed' && status !== 'undelivered') return 'ok'
  return errorCode === 30007 ? 'filtered' : errorCode === 21610 ? 'opted_out' : 'failed'
}

export type SenderPaused = SpikeDetail & { sender: string }

/**
 * A status callback's news for an automated or bulk text, in the callback's transaction: its
 * outcome, and the sender's pause when this refusal makes a spike. Other texts are not looked at.
 */
export async function notePacedStatus(
  trx: Tx,
  text: { messageId: number; status: string; errorCode: number | null },
  now: number,
): Promise<SenderPaused | null> {
  if (!SETTLED.has(text.status)) return null
  const paced = await findPacedText(trx, text.messageId)
  if (!paced) return null
  const outcome = outcomeOf(text.status, text.errorCode)
  // Counted once: `sent` then `delivered` is one ok; a later refusal replaces an ok.
  if (paced.outcome === outcome || (paced.outcome !== null && !REFUSED.has(outcome))) return null
  await runIn(trx, setPacedOutcome(text.messageId, outcome))
  if (!REFUSED.has(outcome)) return null
  const spike = spikeIn(await recentOutcomes(trx, paced.sender, SPIKE.window))
  if (!spike) return null
  const current = (await readPaces(trx, [paced.sender])).get(paced.sender)
  if (current?.paused_at) return null
  await runIn(trx, pauseSender(paced.sender, { why: spike.why, detail: JSON.stringify(spike) }, now))
  return { sender: paced.sender, ...spike }
}

/** Says, in a log line and a metric, that a sender paused itself (a number masked). */
export function senderPaused(deps: Pick<BridgeDeps, 'log' | 'metrics'>, p: SenderPaused): void {
  deps.metrics.senderPauses.inc({ reason: p.why })
  deps.log.warn(
    { sender: maskPhone(p.sender), reason: p.why, filtered: p.filtered, optedOut: p.optedOut, of: p.of },
    'automated and bulk texts from this sender are paused: carriers filtered (30007) or customers refused as opted out (21610) too many of its recent texts; sms-bridge doctor says more, sms-bridge senders resume <sender> resumes',
  )
}

/** Resumes a paused sender and wakes its held texts; 'not_paused' when it was not paused. */
export function resumeSending(deps: Pick<BridgeDeps, 'store' | 'clock'>, sender: string): Promise<'resumed' | 'not_paused'> {
  const now = deps.clock.now()
  return deps.store.transaction(async (trx) => {
    const pace = (await readPaces(trx, [sender])).get(sender)
    if (!pace?.paused_at) return 'not_paused'
    await runIn(trx, ...resumeSender(sender, now), runTasksNow(PACED_TASKS, now))
    return 'resumed'
  })
}
