import { getBroadcast, recipientsIn, pendingTotals, recipientCounts, releasedOutcomes } from '../../shared/db/broadcasts.js'
import type { Broadcast } from '../../shared/db/schema.js'
import { maskPhone } from '../../shared/log.js'
import { quietUntil } from '../../shared/quiet-hours.js'
import { describeTwilioError } from '../../shared/twilio-errors.js'
import type { BridgeDeps } from './deps.js'

/** Rendered texts a preview shows. */
export const PREVIEW_SAMPLES = 3

export interface Cost {
  /** The sum of the texts' estimated prices that are known; null when none is. */
  amount: number | null
  unit: string | null
  /** Texts whose price is unknown (the Pricing API did not say). */
  unpriced: number
}

/** Where a broadcast stands: its audience read so far, judged; what is left to send; what went. */
export interface BroadcastCounts {
  /** A file's lines not looked at yet. */
  listed: number
  excluded: Record<string, number>
  /** Still to go (some held for quiet hours). */
  pending: number
  /** Handed over to be sent, once each. */
  released: number
  sent: number
  skipped: number
  /** Of the released, not yet sent or skipped. */
  sending: number
}

export interface BroadcastPreview {
  broadcast: Broadcast
  counts: BroadcastCounts
  /** Of the pending, how many are in quiet hours at the broadcast's time and go when theirs end. */
  later: number
  encodings: Array<{ encoding: string; texts: number; segments: number }>
  segments: number
  cost: Cost
  samples: Array<{ phone: string; body: string }>
}

export async function broadcastCounts(deps: Pick<BridgeDeps, 'store'>, id: number): Promise<BroadcastCounts> {
  const counts: BroadcastCounts = { listed: 0, excluded: {}, pending: 0, released: 0, sent: 0, skipped: 0, sending: 0 }
  for (const row of await recipientCounts(deps.store.db, id)) {
    if (row.state === 'excluded') counts.excluded[row.reason ?? 'unknown'] = (counts.excluded[row.reason ?? 'unknown'] ?? 0) + row.count
    else if (row.state === 'listed' || row.state === 'pending' || row.state === 'released') counts[row.state] += row.count
  }
  for (const row of await releasedOutcomes(deps.store.db, id)) {
    if (row.send === 'sent') counts.sent += row.count
    else if (row.send === 'skipped') counts.skipped += row.count
    else counts.sending += row.count
  }
  return counts
}

/**
 * What confirming would do: who gets it after consent, trust, country and one text a number (the
 * exclusions), how many wait for the end of their quiet hours, the texts' encodings, segments and
 * estimated cost, and the first rendered texts (numbers masked). Null when there is no such broadcast.
 */
export async function previewBroadcast(deps: Pick<BridgeDeps, 'store' | 'config' | 'clock'>, id: number): Promise<BroadcastPreview | null> {
  const broadcast = await getBroadcast(deps.store.db, id)
  if (!broadcast) return null
  const totals = await pendingTotals(deps.store.db, id)
  const at = Math.max(deps.clock.now(), broadcast.send_at)
  const quiet = deps.config.quietHours
  const later = quiet
    ? totals.zones
        .filter((z) => quietUntil(at, quiet.window, z.time_zone ?? quiet.timeZone) !== null)
        .reduce((n, z) => n + Number(z.count), 0)
    : 0
  const encodings = totals.encodings.map((e) => ({
    encoding: e.encoding ?? 'GSM-7',
    texts: Number(e.count),
    segments: Number(e.segments ?? 0),
  }))
  const samples = (await recipientsIn(deps.store.db, id, 'pending', PREVIEW_SAMPLES)).map((r) => ({
    phone: maskPhone(r.phone),
    body: r.body ?? '',
  }))
  return {
    broadcast,
    counts: await broadcastCounts(deps, id),
    later,
    encodings,
    segments: encodings.reduce((n, e) => n + e.segments, 0),
    cost: sumCost(totals.cost.map((c) => ({ amount: c.cost, unit: c.cost_unit, unpriced: Number(c.unpriced) }))),
    samples,
  }
}

function sumCost(parts: Array<{ amount: number | null; unit: string | null; unpriced: number }>): Cost {
  const priced = parts.filter((p) => p.amount !== null)
  return {
    amount: priced.length ? priced.reduce((n, p) => n + Number(p.amount), 0) : null,
    unit: priced[0]?.unit ?? null,
    unpriced: parts.reduce((n, p) => n + p.unpriced, 0),
  }
}

export interface BroadcastReport {
  broadcast: Broadcast
  counts: BroadcastCounts
  /** Twilio's last word on the sent texts. */
  delivered: number
  /** Failed or undelivered, by Twilio error code, in words. */
  failed: Array<{ code: number | null; count: number; meaning: string }>
  /** Skipped at send time, by reason (consent changed, the contact gone, cancelled). */
  skipped: Array<{ reason: string; count: number }>
  /** Numbers that opted out after their text. */
  optedOutAfter: number
  /** The estimate of the texts that went. */
  cost: Cost
}

const FAILED = new Set(['failed', 'undelivered'])
const DELIVERED = new Set(['delivered', 'read'])

/** What a broadcast did: sent, delivered, failed by error code, opted out after it, and what it cost. */
export async function broadcastReport(deps: Pick<BridgeDeps, 'store'>, id: number): Promise<BroadcastReport | null> {
  const broadcast = await getBroadcast(deps.store.db, id)
  if (!broadcast) return null
  const rows = await releasedOutcomes(deps.store.db, id)
  const failed = new Map<number | null, number>()
  const skipped = new Map<string, number>()
  let delivered = 0
  for (const r of rows) {
    if (r.status && DELIVERED.has(r.status)) delivered += r.count
    if (r.status && FAILED.has(r.status)) failed.set(r.errorCode, (failed.get(r.errorCode) ?? 0) + r.count)
    if (r.send === 'skipped') skipped.set(r.reason ?? 'unknown', (skipped.get(r.reason ?? 'unknown') ?? 0) + r.count)
  }
  return {
    broadcast,
    counts: await broadcastCounts(deps, id),
    delivered,
    failed: [...failed].map(([code, count]) => ({ code, count, meaning: describeTwilioError(code) })).sort((a, b) => b.count - a.count),
    skipped: [...skipped].map(([reason, count]) => ({ reason, count })),
    optedOutAfter: rows.reduce((n, r) => n + r.optedOut, 0),
    cost: sumCost(rows.map((r) => ({ amount: r.cost, unit: null, unpriced: r.unpriced }))),
  }
}
