import { UpstreamError, errorMessage } from '../../shared/errors.js'
import { getCached, setCached } from '../../shared/db/cache.js'
import { knownSids } from '../../shared/db/messages.js'
import type { Store } from '../../shared/db/database.js'
import { runWaitingJobNow } from '../jobs/queue.js'
import type { TaskResult } from '../jobs/worker.js'
import type { BridgeDeps } from './deps.js'
import { receiveText, type InboundSms } from './inbound.js'
import { enqueueTask } from './jobs.js'
import { jobKeys } from './keys.js'
const CURSOR = 'twilio.catchup.since'
/** How far back the first catch-up looks, and the overlap kept between runs (clocks differ). */
const FIRST_LOOKBACK_MS = 24 * 3_600_000
const OVERLAP_MS = 10 * 60_000
export const CATCH_UP_INTERVAL_MS = 5 * 60_000

/**
 * Queues the recurring catch-up once (every process calls this at start, one job results) and makes
 * it due now: a start is when texts were most likely missed, their webhooks having died with the
 * process before, and they should not wait for the next five-minute turn.
 */
export async function scheduleCatchUp(store: Store, now = Date.now()): Promise<void> {
  await store.write(async (trx) => {
    const { id, deduped } = await enqueueTask(trx, 'inbound.catchup', null, { key: jobKeys.catchUp(), maxAttempts: 5 }, now)
    if (deduped) await runWaitingJobNow(trx, id, now)
  })
}

/**
 * Job: Twilio never resends an inbound webhook that failed, so texts that arrived while the bridge
 * was down are only in Twilio's message log. Lists recent inbound texts to our numbers and ingests
 * those we do not have, oldest first, through the same path as the webhook (so exactly once).
 */
export async function catchUp(deps: BridgeDeps): Promise<TaskResult> {
  try {
    await ingestMissed(deps)
    return { runAgainAt: Date.now() + CATCH_UP_INTERVAL_MS }
  } catch (err) {
    // A recurring job must never die of an outage: try again sooner instead.
    if (!deps.reachability.warnIfUnreachable(deps.log, err, 'the catch-up on missed texts tries again in 1 min')) {
      const why = err instanceof UpstreamError ? { status: err.status, code: err.details.code } : {}
      deps.log.warn({ ...why, err: errorMessage(err) }, `the catch-up on missed texts stopped: ${errorMessage(err)}; it tries again in 1 min`)
    }
    return { runAgainAt: Date.now() + 60_000 }
  }
}

async function ingestMissed(deps: BridgeDeps): Promise<void> {
  const startedAt = Date.now()
  const cursor = Number((await getCached(deps.store.db, CURSOR)) ?? startedAt - FIRST_LOOKBACK_MS)
  const since = new Date(cursor - OVERLAP_MS)
  const { twilio: config } = deps.config

  const found = []
  for (const to of config.phoneNumbers.length > 0 ? config.phoneNumbers : [undefined]) {
    const messages = await deps.twilio.textsSince(since, to)
    found.push(
      ...messages.filter(
        (m) =>
          m.direction === 'inbound' &&
          (config.phoneNumbers.includes(m.to) || (config.messagingServiceSid && m.messagingServiceSid === config.messagingServiceSid)),
      ),
    )
  }
  const known = await knownSids(deps.store.db, found.map((m) => m.sid))
  const missing = found
    .filter((m) => !known.has(m.sid))
    .sort((a, b) => a.at.getTime() - b.at.getTime())

  for (const m of missing) {
    const media = m.numMedia > 0 ? await deps.twilio.mediaOf(m.sid) : []
    const sms: InboundSms = { messageSid: m.sid, from: m.from, to: m.to, body: m.body, media, numSegments: m.numSegments }
    await receiveText(deps, sms, m.at.getTime())
  }
  if (missing.length > 0) deps.log.warn({ count: missing.length }, 'ingested inbound texts whose webhooks never arrived')
  await setCached(deps.store, CURSOR, String(startedAt))
}
