import { z } from 'zod'
import { runIn } from '../../shared/db/statement.js'
import type { Tx } from '../../shared/db/database.js'
import { splitAddress } from '../../shared/channel.js'
import {
  findMessageBySid,
  getMessage,
  lastSentToContact,
  textsAwaitingFallback,
  updateMessage,
  type Message,
} from '../../shared/db/messages.js'
import type { DeliveryChannel, MessageStatus, TwilioStatus } from '../../shared/db/schema.js'
import { describeTwilioError, TWILIO_ERRORS } from '../../shared/twilio-errors.js'
import { recordTwilioOptOut } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { queues } from './keys.js'
import { onLinkedContact } from './links.js'
import { notifyFailureTask } from './outbound.js'
import { senderUsed } from './senders.js'
import { notePacedStatus, senderPaused, type SenderPaused } from './pacing.js'

/** Writing the last text's status on a contact: one job per change, in the contact's order. */
export const syncAttributesTask = defineTask('contact.sms_attributes', z.object({ contactId: z.string().min(1) }), {
  lane: 'automated',
  run: syncContactAttributes,
  keys: {
    sync: (messageId: number, status: string) => `sync:${messageId}:${status}`,
    /** The last text's status written on the contact a merge moved our texts to. */
    syncMerged: (from: string, into: string) => `syncmerged:${from}:${into}`,
  },
})

const fallbackPayload = z.object({
  sid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/),
  status: z.string().min(1).max(32),
  errorCode: z.number().int().nullable(),
  from: z.string().nullable(),
  to: z.string().min(1),
  serviceSid: z.string().min(1),
})

/** Linking a status callback of an unknown MessageSid (an SMS fallback of an RCS text) and applying it. */
export const fallbackTask = defineTask('status.fallback', fallbackPayload, {
  lane: 'inbound',
  run: linkFallback,
  keys: { link: (sid: string, status: string) => `fallback:${sid}:${status}` },
})

/** The look, after RCS failed, at whether an SMS fallback came. */
export const fallbackCheckTask = defineTask('status.fallback_check', z.object({ messageId: z.number().int().positive() }), {
  lane: 'inbound',
  run: checkFallback,
  keys: { check: (messageId: number) => `fallbackcheck:${messageId}` },
})
import { CONTACT_ATTRIBUTES } from './contact-attributes.js'

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

/** What a status callback says: the message, its status and error, and (when Twilio sends them) its two ends. */
export interface StatusUpdate {
  sid: string
  status: string
  errorCode: number | null
  /** Our end as the message went out: `rcs:<sender>` for RCS, a number (SMS, MMS), `whatsapp:+...`. */
  from?: string | null | undefined
  /** The customer's address. */
  to?: string | null | undefined
  serviceSid?: string | null | undefined
}

/** How long after a text was sent an SMS fallback of it may still arrive, and how long RCS's failure waits for one. */
export const FALLBACK_WINDOW_MS = 60 * 60_000
export const FALLBACK_WAIT_MS = 10 * 60_000

/** The channel a callback's From names: rcs:, whatsapp:, else a number, short code or sender ID (SMS). */
export function channelOfSender(from: string | null | undefined): DeliveryChannel | null {
  if (!from) return null
  const { channel } = splitAddress(from)
  return channel ?? null
}

/**
 * A status callback Twilio posted: applied in one transaction; returns whether anything changed. A
 * sender the callback paused (pacing.ts) is told of once the transaction committed.
 */
export async function receiveStatus(deps: Pick<BridgeDeps, 'store' | 'clock' | 'log' | 'metrics'>, update: StatusUpdate): Promise<boolean> {
  const paused: SenderPaused[] = []
  const changed = await deps.store.transaction((trx) => {
    paused.length = 0 // the transaction may run twice (a group commit that rolled back)
    return recordStatus(trx, update, deps.clock.now(), paused)
  })
  for (const p of paused) senderPaused(deps, p)
  return changed
}

const isFailure = (status: string) => status === 'failed' || status === 'undelivered'

/**
 * Applies a status callback; returns whether anything changed. Failures queue one note. A Messaging
 * Service that cannot deliver a text by RCS sends it again by SMS as a second message: RCS's failure
 * waits for it (FALLBACK_WAIT_MS), and the fallback's statuses are the text's from then on. An
 * unknown MessageSid that may be such a fallback is linked by a job (it needs Twilio's log).
 */
export async function recordStatus(trx: Tx, update: StatusUpdate, now: number, paused: SenderPaused[] = []): Promise<boolean> {
  const message = await findMessageBySid(trx, update.sid)
  if (!message) return queueFallbackLink(trx, update, now)
  const channel = channelOfSender(update.from)
  const isFallback = message.fallback_sid === update.sid
  // The first attempt's news once the fallback carries the text: history, not the text's status.
  if (message.fallback_sid && !isFallback) return false
  // The number Twilio actually sent from (a Messaging Service picks one): the customer's sender now.
  if (message.direction === 'outbound') await runIn(trx, ...senderUsed(message.phone, update.from, message.created_at))
  if (channel === 'rcs' && isFailure(update.status) && !optOut(update.errorCode) && message.twilio_number?.startsWith('MG')) {
    await runIn(
      trx,
      updateMessage(
        message.id,
        { channel: 'rcs', error_code: update.errorCode, error_message: describeTwilioError(update.errorCode) },
        now,
      ),
    )
    await runIn(
      trx,
      enqueueTask(
        fallbackCheckTask,
        { messageId: message.id },
        { key: fallbackCheckTask.keys.check(message.id), runAt: now + FALLBACK_WAIT_MS },
        now,
      ),
    )
    return true
  }
  const status = nextStatus(message.status, update.status)
  const carrier = isFallback ? 'sms' : (channel ?? message.channel)
  if (!status) {
    if (carrier === message.channel) return false
    await runIn(trx, updateMessage(message.id, { channel: carrier }, now))
    return true
  }
  const failed = isFailure(status)
  const error = failed
    ? { error_code: update.errorCode, error_message: describeTwilioError(update.errorCode) }
    : isFallback
      ? { error_code: null, error_message: null }
      : {}
  await runIn(trx, updateMessage(message.id, { status, channel: carrier, ...error }, now))
  if (failed) await textFailed(trx, message, update.errorCode, now)
  // An automated or bulk text's outcome feeds its sender's spike detector, in this transaction.
  const pause = await notePacedStatus(trx, { messageId: message.id, status, errorCode: update.errorCode }, now)
  if (pause) paused.push(pause)
  if (message.intercom_contact_id) {
    // One job per change, run in order per contact; each writes the newest state when it runs.
    const contactId = message.intercom_contact_id
    await runIn(
      trx,
      enqueueTask(
        syncAttributesTask,
        { contactId },
        { key: syncAttributesTask.keys.sync(message.id, status), queueKey: queues.contact(contactId) },
        now,
      ),
    )
  }
  return true
}

const optOut = (code: number | null) => Boolean(code && TWILIO_ERRORS[code]?.optedOut)

/** A text failed for good: an opt-out is recorded for the number (every channel of the sender), and the team told. */
async function textFailed(trx: Tx, message: Message, code: number | null, now: number): Promise<void> {
  await recordTwilioOptOut(
    trx,
    {
      phone: message.phone,
      code,
      messageSid: message.twilio_sid,
      number: message.twilio_number,
      conversationId: message.intercom_conversation_id,
    },
    now,
  )
  await runIn(trx, enqueueTask(notifyFailureTask, { messageId: message.id }, { key: notifyFailureTask.keys.notify(message.id) }, now))
}

/**
 * A callback for a MessageSid we never sent, through our Messaging Service, not by RCS, to a number
 * with a text that has no fallback yet: perhaps the SMS Twilio sent in that text's place. A job looks
 * it up in Twilio's log and links it. Anything else (another app's texts) is ignored, as before.
 */
async function queueFallbackLink(trx: Tx, update: StatusUpdate, now: number): Promise<boolean> {
  if (!update.to || !update.serviceSid || channelOfSender(update.from) === 'rcs') return false
  const phone = splitAddress(update.to)
  if (phone.channel !== 'sms' && phone.channel !== 'rcs') return false
  const waiting = await textsAwaitingFallback(trx, { phone: phone.address, serviceSid: update.serviceSid, since: now - FALLBACK_WINDOW_MS })
  if (waiting.length === 0) return false
  const payload = {
    sid: update.sid,
    status: update.status,
    errorCode: update.errorCode,
    from: update.from ?? null,
    to: update.to,
    serviceSid: update.serviceSid,
  }
  await runIn(trx, enqueueTask(fallbackTask, payload, { key: fallbackTask.keys.link(update.sid, update.status) }, now))
  return true
}

/**
 * Job: links an SMS fallback to the text it stands in for (the oldest one to that number, through
 * that service, with the words Twilio's log shows for it and no fallback yet), then applies its status.
 */
export async function linkFallback(
  deps: Pick<BridgeDeps, 'store' | 'twilio' | 'clock'>,
  payload: z.output<typeof fallbackPayload>,
): Promise<void> {
  const logged = (await deps.twilio.recentTextsTo(payload.to)).find((m) => m.sid === payload.sid)
  if (!logged) return // not in the log: not ours to guess about
  const now = deps.clock.now()
  await deps.store.transaction(async (trx) => {
    if (!(await findMessageBySid(trx, payload.sid))) {
      const phone = splitAddress(payload.to)
      if (phone.channel === null) return
      const [text] = await textsAwaitingFallback(trx, {
        phone: phone.address,
        serviceSid: payload.serviceSid,
        since: now - FALLBACK_WINDOW_MS,
        body: logged.body,
      })
      if (!text) return
      await runIn(trx, updateMessage(text.id, { fallback_sid: payload.sid, channel: 'sms' }, now))
    }
    await recordStatus(
      trx,
      {
        sid: payload.sid,
        status: payload.status,
        errorCode: payload.errorCode,
        from: payload.from,
        to: payload.to,
        serviceSid: payload.serviceSid,
      },
      now,
    )
  })
}

/**
 * Job: RCS could not deliver a text and no SMS fallback arrived within FALLBACK_WAIT_MS (the
 * Messaging Service has no SMS sender, or fallback is off): the text failed, with RCS's error.
 */
export async function checkFallback(deps: Pick<BridgeDeps, 'store' | 'clock'>, payload: { messageId: number }): Promise<void> {
  await deps.store.transaction(async (trx) => {
    const message = await getMessage(trx, payload.messageId)
    if (!message || message.fallback_sid || RANK[message.status] === 4) return
    const now = deps.clock.now()
    await runIn(trx, updateMessage(message.id, { status: 'failed' }, now))
    await textFailed(trx, message, message.error_code, now)
  })
}

/** Job: keeps `last_sms_sid` and `last_sms_status` on the Intercom contact current. */
export async function syncContactAttributes(deps: BridgeDeps, payload: { contactId: string }): Promise<void> {
  const last = await lastSentToContact(deps.store.db, payload.contactId)
  if (!last) return
  const { lastSmsSid, lastSmsStatus } = CONTACT_ATTRIBUTES
  await deps.intercom.ensureContactAttribute(lastSmsSid)
  await deps.intercom.ensureContactAttribute(lastSmsStatus)
  await onLinkedContact(deps, payload.contactId, (id) =>
    deps.intercom.updateContact(id, { customAttributes: { [lastSmsSid.name]: last.sid, [lastSmsStatus.name]: last.status } }),
  )
}
