import { z } from 'zod'
import { runIn, type Statement } from '../../shared/db/statement.js'
import { UpstreamError, errorMessage } from '../../shared/errors.js'
import { getCached, setCached } from '../../shared/db/cache.js'
import { knownSids, type InboundText } from '../../shared/db/messages.js'
import type { Store } from '../../shared/db/database.js'
import { runKeyedJobNow } from '../queue/queue.js'
import type { TaskResult } from '../queue/worker.js'
import type { BridgeDeps } from './deps.js'
import { receiveText } from './inbound.js'
import { defineTask, enqueueTask } from '../queue/task.js'
const CURSOR = 'twilio.catchup.since'
/**
 * Nothing sent before this is taken from Twilio's log. Set by the migration 2026-12-07T10-catchup on
 * a database that had stored no text and never caught up (its first start): Twilio's log then holds
 * history another database (before a new volume, a staging copy's production) may have delivered.
 */
const FLOOR = 'twilio.catchup.floor'
/** How far back the first catch-up looks, and the overlap kept between runs (clocks differ). */
const FIRST_LOOKBACK_MS = 24 * 3_600_000
const OVERLAP_MS = 10 * 60_000
export const CATCH_UP_INTERVAL_MS = 5 * 60_000
/** The furthest back an operator may ask the catch-up to look (`sms-bridge catchup --since`). */
export const MAX_CATCH_UP_MS = 7 * 24 * 3_600_000

/** The recurring catch-up on texts missed while the bridge was down: one job, kept for its next turn. */
export const catchUpTask = defineTask('inbound.catchup', z.null(), {
  lane: 'inbound',
  run: catchUp,
  keys: { recurring: () => 'inbound.catchup' },
})

/**
 * Queues the recurring catch-up once (every process calls this at start, one job results) and makes
 * it due now: a start is when texts were most likely missed, their webhooks having died with the
 * process before, and they should not wait for the next five-minute turn.
 */
export async function scheduleCatchUp(store: Store, now: number): Promise<void> {
  await store.run(...dueNow(now))
}

/** Queued if absent; if it was queued already, its next turn is now. */
function dueNow(now: number): Statement[] {
  return [
    enqueueTask(catchUpTask, null, { key: catchUpTask.keys.recurring(), maxAttempts: 5 }, now),
    runKeyedJobNow(catchUpTask.keys.recurring(), now),
  ]
}

/**
 * The operator's request (`sms-bridge catchup --since`): the catch-up takes every text sent from
 * `from` on that the bridge does not have, at its next turn, made due now. What Intercom already
 * shows is found there and not posted again (each such text looks first).
 */
export async function catchUpFrom(store: Store, from: number, now: number): Promise<void> {
  await store.run(setCached(CURSOR, String(from), now), setCached(FLOOR, String(from), now), ...dueNow(now))
}

/**
 * Job: Twilio never resends an inbound webhook that failed, so texts that arrived while the bridge
 * was down are only in Twilio's message log. Lists recent inbound texts to our numbers and ingests
 * those we do not have, oldest first, through the same path as the webhook (so exactly once). A
 * database's first start takes nothing older than itself (see FLOOR).
 */
export async function catchUp(deps: BridgeDeps): Promise<TaskResult> {
  try {
    await ingestMissed(deps)
    return { runAgainAt: deps.clock.now() + CATCH_UP_INTERVAL_MS }
  } catch (err) {
    // A recurring job must never die of an outage: try again sooner instead.
    if (!deps.reachability.warnIfUnreachable(deps.log, err, 'the catch-up on missed texts tries again in 1 min')) {
      const why = err instanceof UpstreamError ? { status: err.status, code: err.details.code } : {}
      deps.log.warn(
        { ...why, err: errorMessage(err) },
        `the catch-up on missed texts stopped: ${errorMessage(err)}; it tries again in 1 min`,
      )
    }
    return { runAgainAt: deps.clock.now() + 60_000 }
  }
}

async function ingestMissed(deps: BridgeDeps): Promise<void> {
  const startedAt = deps.clock.now()
  const stored = await getCached(deps.store.db, CURSOR)
  const cursor = Number(stored ?? startedAt - FIRST_LOOKBACK_MS)
  // Twilio's times are whole seconds: a text sent in the floor's own second is not older than it.
  const floor = Math.floor(Number((await getCached(deps.store.db, FLOOR)) ?? 0) / 1000) * 1000
  const since = new Date(Math.max(cursor - OVERLAP_MS, floor))
  const { twilio: config } = deps.config

  const found = []
  for (const to of config.phoneNumbers.length > 0 ? config.phoneNumbers : [undefined]) {
    // Twilio lists newest first, its times in whole seconds: reversed, the stable sort below keeps
    // texts sent within one second in the order they were sent.
    const messages = (await deps.twilio.textsSince(since, to)).reverse()
    found.push(
      ...messages.filter(
        (m) =>
          m.direction === 'inbound' &&
          m.at.getTime() >= floor &&
          (config.phoneNumbers.includes(m.to) || (config.messagingServiceSid && m.messagingServiceSid === config.messagingServiceSid)),
      ),
    )
  }
  const known = await knownSids(
    deps.store.db,
    found.map((m) => m.sid),
  )
  const missing = found.filter((m) => !known.has(m.sid)).sort((a, b) => a.at.getTime() - b.at.getTime())

  for (const m of missing) {
    const media = m.numMedia > 0 ? await deps.twilio.mediaOf(m.sid) : []
    const text: InboundText = { sid: m.sid, from: m.from, to: m.to, body: m.body, media, numSegments: m.numSegments }
    // Another database may have delivered it (a restore, a new volume): its delivery looks first.
    await receiveText(deps, text, { now: m.at.getTime(), lookFirst: true })
  }
  if (missing.length > 0) deps.log.warn({ count: missing.length }, 'ingested inbound texts whose webhooks never arrived')
  await advanceCursor(deps.store, stored, startedAt)
}

/**
 * Moves the cursor to this turn's start, unless it changed while the turn ran: an operator's
 * `sms-bridge catchup --since` lowered it, and the next turn (due now) must still look that far back.
 */
async function advanceCursor(store: Store, read: string | undefined, to: number): Promise<void> {
  await store.transaction(async (trx) => {
    if ((await getCached(trx, CURSOR)) !== read) return
    await runIn(trx, setCached(CURSOR, String(to), to))
  })
}
