import type { Store } from '../../shared/db/database.js'
import { pruneHeldMedia } from '../../shared/db/media.js'
import { pruneSendCounts } from '../../shared/db/send-counts.js'
import { utcDay } from './caps.js'
import { pruneReceipts } from '../../shared/db/receipts.js'
import { MEDIA_TTL_MS } from './media.js'
import type { TaskResult } from '../jobs/worker.js'
import type { BridgeDeps } from './deps.js'
import { enqueueTask } from './jobs.js'
import { jobKeys } from './keys.js'

/**
 * Intercom redelivers a webhook within hours; a month is far beyond any redelivery. Canvas nonces
 * live a week (NONCE_MAX_AGE_MS): their receipts must outlive them, or a used one would work again.
 */
export const RECEIPT_RETENTION_MS = 30 * 24 * 3_600_000
const PRUNE_INTERVAL_MS = 24 * 3_600_000
/** Rows deleted per write, so other writes are never held up for long. */
const BATCH = 2_000

/**
 * How often the embedded database's write-ahead log is copied into the file. SQLite does it by itself
 * only past 1,000 pages (4 MB), which a quiet bridge takes days to write: meanwhile a copy of the
 * database file alone would miss everything since the last checkpoint.
 */
export const CHECKPOINT_INTERVAL_MS = 5 * 60_000

/** Queues the daily clean-up and the periodic checkpoint once each; a start with them already queued adds nothing. */
export async function scheduleMaintenance(store: Store): Promise<void> {
  await store.write(async (trx) => {
    await enqueueTask(trx, 'maintenance.prune', null, { key: jobKeys.prune(), maxAttempts: 5 })
    if (store.isLocalFile) await enqueueTask(trx, 'maintenance.checkpoint', null, { key: jobKeys.checkpoint(), maxAttempts: 5 })
  })
}

/** Job: checkpoints the embedded database's write-ahead log (never waiting on a reader), then again in a few minutes. */
export async function checkpoint(deps: Pick<BridgeDeps, 'store' | 'log'>, now = Date.now()): Promise<TaskResult> {
  const { pagesLeft } = await deps.store.checkpoint()
  // Pages left behind belong to a reader still on an older snapshot: the next turn takes them.
  if (pagesLeft > 0) deps.log.debug({ pagesLeft }, 'checkpoint left pages a reader still uses')
  return { runAgainAt: now + CHECKPOINT_INTERVAL_MS }
}

/** Job: deletes webhook receipts past any redelivery and media copies past their links, a batch per write, then runs again tomorrow. */
export async function prune(deps: Pick<BridgeDeps, 'store' | 'log'>, now = Date.now()): Promise<TaskResult> {
  let deleted = 0
  for (;;) {
    const n = await deps.store.write((trx) => pruneReceipts(trx, now - RECEIPT_RETENTION_MS, BATCH))
    deleted += n
    if (n < BATCH) break
  }
  if (deleted > 0) deps.log.info({ deleted }, 'pruned old webhook receipts')
  // Teammates' files copied for Twilio: their links stop working after MEDIA_TTL_MS anyway.
  let files = 0
  for (;;) {
    const n = await deps.store.write((trx) => pruneHeldMedia(trx, now - MEDIA_TTL_MS, BATCH))
    files += n
    if (n < BATCH) break
  }
  if (files > 0) deps.log.info({ deleted: files }, 'pruned held media past their links')
  await deps.store.write((trx) => pruneSendCounts(trx, utcDay(now)))
  return { runAgainAt: now + PRUNE_INTERVAL_MS }
}
