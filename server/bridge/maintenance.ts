import { z } from 'zod'
import type { Store, Tx } from '../../shared/db/database.js'
import { pruneHeldMedia } from '../../shared/db/media.js'
import { pruneSendCounts } from '../../shared/db/send-counts.js'
import { utcDay } from './caps.js'
import { pruneReceipts } from '../../shared/db/receipts.js'
import { pruneVerifications } from '../../shared/db/verifications.js'
import { pruneConnectorAnswers } from '../../shared/db/connector-answers.js'
import { redactOldAutomated, redactOldMessages } from '../../shared/db/privacy.js'
import { MEDIA_TTL_MS } from './media-links.js'
import type { TaskResult } from '../queue/worker.js'
import type { BridgeDeps } from './deps.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { markUnmarkedLinks } from './links.js'

/**
 * Intercom redelivers a webhook within hours; a month is far beyond any redelivery. Canvas nonces
 * live a week (NONCE_MAX_AGE_MS): their receipts must outlive them, or a used one would work again.
 */
export const RECEIPT_RETENTION_MS = 30 * 24 * 3_600_000
/**
 * A verification code is of use until it expires (a resend renews it); a day later the visitor who
 * comes back starts again, and the number they typed is not kept.
 */
export const VERIFICATION_RETENTION_MS = 24 * 3_600_000
const PRUNE_INTERVAL_MS = 24 * 3_600_000
/** Rows deleted per write, so other writes are never held up for long. */
const BATCH = 2_000

/**
 * How often the embedded database's write-ahead log is copied into the file. SQLite does it by itself
 * only past 1,000 pages (4 MB), which a quiet bridge takes days to write: meanwhile a copy of the
 * database file alone would miss everything since the last checkpoint.
 */
export const CHECKPOINT_INTERVAL_MS = 5 * 60_000

/**
 * The first clean-up waits this long after it is first queued: a start (a deploy, a restart with a
 * backlog) has texts to take first, and on a remote database the clean-up's writes hold the one
 * write lane for round trips the texts' acknowledgements would wait behind (at 20 ms from the
 * database, running it at once made the bench's first second of acknowledgements stall: p99 about
 * 800 ms instead of 300).
 */
export const FIRST_PRUNE_DELAY_MS = 10 * 60_000

/** The daily clean-up: one job, whichever process queues it, kept for its next turn. */
export const pruneTask = defineTask('maintenance.prune', z.null(), {
  lane: 'inbound',
  run: (deps: BridgeDeps) => prune(deps, deps.clock.now()),
  keys: { recurring: () => 'maintenance.prune' },
})

/** The periodic checkpoint of the embedded database: one job, kept for its next turn. */
export const checkpointTask = defineTask('maintenance.checkpoint', z.null(), {
  lane: 'inbound',
  run: (deps: BridgeDeps) => checkpoint(deps, deps.clock.now()),
  keys: { recurring: () => 'maintenance.checkpoint' },
})

/** Queues the daily clean-up and the periodic checkpoint once each; a start with them already queued adds nothing. */
export async function scheduleMaintenance(store: Store, now: number): Promise<void> {
  await store.run(
    enqueueTask(pruneTask, null, { key: pruneTask.keys.recurring(), maxAttempts: 5, runAt: now + FIRST_PRUNE_DELAY_MS }, now),
    ...(store.isLocalFile ? [enqueueTask(checkpointTask, null, { key: checkpointTask.keys.recurring(), maxAttempts: 5 }, now)] : []),
  )
}

/** Job: checkpoints the embedded database's write-ahead log (never waiting on a reader), then again in a few minutes. */
export async function checkpoint(deps: Pick<BridgeDeps, 'store' | 'log'>, now: number): Promise<TaskResult> {
  const { pagesLeft } = await deps.store.checkpoint()
  // Pages left behind belong to a reader still on an older snapshot: the next turn takes them.
  if (pagesLeft > 0) deps.log.debug({ pagesLeft }, 'checkpoint left pages a reader still uses')
  return { runAgainAt: now + CHECKPOINT_INTERVAL_MS }
}

/** Runs `prune` a batch per write until a batch comes back short; returns how many rows went. */
async function inBatches(store: Store, prune: (trx: Tx, limit: number) => Promise<number>): Promise<number> {
  let deleted = 0
  for (;;) {
    const n = await store.transaction((trx) => prune(trx, BATCH))
    deleted += n
    if (n < BATCH) return deleted
  }
}

/**
 * Removes the words and media links of texts older than MESSAGE_RETENTION_DAYS (and of welcome and
 * Series texts), a batch per write. Twilio's own log is not touched: its retention is Twilio's.
 */
async function applyRetention(deps: Pick<BridgeDeps, 'store' | 'log' | 'config'>, now: number): Promise<void> {
  const retention = deps.config.messageRetentionMs
  if (retention === null) return
  const texts = await inBatches(deps.store, (trx, limit) => redactOldMessages(trx, now - retention, limit, now))
  const automated = await inBatches(deps.store, (trx, limit) => redactOldAutomated(trx, now - retention, limit))
  if (texts + automated > 0) deps.log.info({ texts, automated }, 'removed the words of texts past MESSAGE_RETENTION_DAYS')
}

/** Job: deletes webhook receipts past any redelivery, media copies past their links and verifications a day past expiry, removes old texts' words, a batch per write, then runs again tomorrow. */
export async function prune(deps: Pick<BridgeDeps, 'store' | 'log' | 'config'>, now: number): Promise<TaskResult> {
  const receipts = await inBatches(deps.store, (trx, limit) => pruneReceipts(trx, now - RECEIPT_RETENTION_MS, limit))
  if (receipts > 0) deps.log.info({ deleted: receipts }, 'pruned old webhook receipts')
  // Teammates' files copied for Twilio: their links stop working after MEDIA_TTL_MS anyway.
  const files = await inBatches(deps.store, (trx, limit) => pruneHeldMedia(trx, now - MEDIA_TTL_MS, limit))
  if (files > 0) deps.log.info({ deleted: files }, 'pruned held media past their links')
  const codes = await inBatches(deps.store, (trx, limit) => pruneVerifications(trx, now - VERIFICATION_RETENTION_MS, limit))
  if (codes > 0) deps.log.info({ deleted: codes }, 'pruned phone verifications a day past their expiry')
  // A Workflow's run is redelivered within minutes or hours: its answer is kept as long as a receipt.
  const answers = await inBatches(deps.store, (trx, limit) => pruneConnectorAnswers(trx, now - RECEIPT_RETENTION_MS, limit))
  if (answers > 0) deps.log.info({ deleted: answers }, "pruned data connectors' answers past any redelivery")
  await deps.store.run(pruneSendCounts(utcDay(now)))
  await applyRetention(deps, now)
  // Not a clean-up, but daily too: links from before the bridge marked its contacts get their mark.
  const marking = await markUnmarkedLinks(deps, now)
  if (marking > 0) deps.log.info({ links: marking }, "queued the bridge's mark for links that lack it")
  return { runAgainAt: now + PRUNE_INTERVAL_MS }
}
