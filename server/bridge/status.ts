import { runIn } from '../../shared/db/statement.js'
import type { Tx } from '../../shared/db/database.js'
import { findMessageBySid, lastSentToContact, updateMessage } from '../../shared/db/messages.js'
import type { MessageStatus, TwilioStatus } from '../../shared/db/schema.js'
import { describeTwilioError } from '../../shared/twilio-errors.js'
import { recordTwilioOptOut } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { enqueueTask, type TaskPayload } from './jobs.js'
import { jobKeys, queues } from './keys.js'
import { onLinkedContact } from './links.js'

// How far along a text is. Callbacks arrive out of order and twice, so a status only ever moves up;
// the final ones (rank 4) are never replaced, except that a delivered text may later be read.
const RANK: Partial<Record<MessageStatus, number>> = {
  pending: 0,
  accepted: 1,
  scheduled: 1,
  queued: 1,
  sending: 2,
  sent: 3,
  delivered: 4,
  undelivered: 4,
  failed: 4,
  canceled: 4,
  read: 5,
}

const isRanked = (status: string): status is TwilioStatus => Object.hasOwn(RANK, status)

/** The status to keep when `incoming` arrives for a text that is `current`, or null to ignore it. */
export function nextStatus(current: MessageStatus, incoming: string): TwilioStatus | null {
  if (!isRanked(incoming)) return null
  const from = RANK[current] ?? 0
  const to = RANK[incoming]!
  if (to <= from) return null
  if (from === 4 && !(current === 'delivered' && incoming === 'read')) return null
  return incoming
}

/** A status callback Twilio posted: applied in one transaction; returns whether anything changed. */
export function receiveStatus(deps: Pick<BridgeDeps, 'store'>, update: { sid: string; status: string; errorCode: number | null }): Promise<boolean> {
  return deps.store.transaction((trx) => recordStatus(trx, update))
}

/** Applies a status callback; returns whether anything changed. Failures queue one note. */
export async function recordStatus(trx: Tx, update: { sid: string; status: string; errorCode: number | null }): Promise<boolean> {
  const message = await findMessageBySid(trx, update.sid)
  if (!message) return false
  const status = nextStatus(message.status, update.status)
  if (!status) return false
  const failed = status === 'failed' || status === 'undelivered'
  await runIn(trx, updateMessage(message.id, { status, ...(failed ? { error_code: update.errorCode, error_message: describeTwilioError(update.errorCode) } : {}) }))
  if (failed) {
    await recordTwilioOptOut(trx, message.phone, update.errorCode)
    await runIn(trx, enqueueTask('outbound.notify_failure', { messageId: message.id }, { key: jobKeys.notifyFailure(message.id) }))
  }
  if (message.intercom_contact_id) {
    // One job per change, run in order per contact; each writes the newest state when it runs.
    const contactId = message.intercom_contact_id
    await runIn(trx, enqueueTask('contact.sms_attributes', { contactId }, { key: jobKeys.syncContact(message.id, status), queueKey: queues.contact(contactId) }))
  }
  return true
}

/** Job: keeps `last_sms_sid` and `last_sms_status` on the Intercom contact current. */
export async function syncContactAttributes(deps: BridgeDeps, payload: TaskPayload<'contact.sms_attributes'>): Promise<void> {
  const last = await lastSentToContact(deps.store.db, payload.contactId)
  if (!last) return
  await deps.intercom.ensureContactAttribute('last_sms_sid', 'string', 'Twilio MessageSid of the last text sent to this contact')
  await deps.intercom.ensureContactAttribute('last_sms_status', 'string', 'Delivery status of the last text sent to this contact')
  await onLinkedContact(deps, payload.contactId, (id) => deps.intercom.updateContact(id, { customAttributes: { last_sms_sid: last.sid, last_sms_status: last.status } }))
}
