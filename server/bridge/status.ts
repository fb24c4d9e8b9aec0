import type { Tx } from '../../shared/db/database.js'
import { setConsent } from '../../shared/db/consent.js'
import { TWILIO_ERRORS, describeTwilioError } from '../../shared/twilio-errors.js'
import { enqueue } from '../jobs/queue.js'
import type { BridgeDeps } from './deps.js'
import { ensureContactAttribute, setContactAttributes } from './intercom.js'
import { NOTIFY_FAILURE } from './outbound.js'

// How far along a text is. Callbacks arrive out of order and twice, so a status only ever moves up;
// the final ones (rank 4) are never replaced, except that a delivered text may later be read.
const RANK: Record<string, number> = {
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

/** The status to keep when `incoming` arrives for a text that is `current`, or null to ignore it. */
export function nextStatus(current: string, incoming: string): string | null {
  const from = RANK[current] ?? 0
  const to = RANK[incoming]
  if (to === undefined || to <= from) return null
  if (from === 4 && !(current === 'delivered' && incoming === 'read')) return null
  return incoming
}

export const SYNC_CONTACT = 'contact.sms_attributes'

/** Applies a status callback; returns whether anything changed. Failures queue one note. */
export async function recordStatus(trx: Tx, update: { sid: string; status: string; errorCode: number | null }): Promise<boolean> {
  const message = await trx.selectFrom('messages').selectAll().where('twilio_sid', '=', update.sid).executeTakeFirst()
  if (!message) return false
  const status = nextStatus(message.status, update.status)
  if (!status) return false
  const failed = status === 'failed' || status === 'undelivered'
  await trx
    .updateTable('messages')
    .set({
      status,
      updated_at: Date.now(),
      ...(failed ? { error_code: update.errorCode, error_message: describeTwilioError(update.errorCode) } : {}),
    })
    .where('id', '=', message.id)
    .execute()
  if (failed) {
    if (update.errorCode && TWILIO_ERRORS[update.errorCode]?.optedOut) {
      await setConsent(trx, message.phone, 'opted_out', `twilio:${update.errorCode}`)
    }
    await enqueue(trx, { task: NOTIFY_FAILURE, payload: { messageId: message.id }, key: `notify:${message.id}` })
  }
  if (message.intercom_contact_id) {
    // One job per change, run in order per contact; each writes the newest state when it runs.
    await enqueue(trx, {
      task: SYNC_CONTACT,
      payload: { contactId: message.intercom_contact_id },
      key: `sync:${message.id}:${status}`,
      queueKey: `contact:${message.intercom_contact_id}`,
    })
  }
  return true
}

/** Job: keeps `last_sms_sid` and `last_sms_status` on the Intercom contact current. */
export async function syncContactAttributes(deps: BridgeDeps, payload: { contactId: string }): Promise<void> {
  const last = await deps.store.db
    .selectFrom('messages')
    .select(['twilio_sid', 'status'])
    .where('intercom_contact_id', '=', payload.contactId)
    .where('direction', '=', 'outbound')
    .where('twilio_sid', 'is not', null)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst()
  if (!last) return
  await ensureContactAttribute(deps, 'last_sms_sid', 'string', 'Twilio MessageSid of the last text sent to this contact')
  await ensureContactAttribute(deps, 'last_sms_status', 'string', 'Delivery status of the last text sent to this contact')
  await setContactAttributes(deps, payload.contactId, { last_sms_sid: last.twilio_sid, last_sms_status: last.status })
}
