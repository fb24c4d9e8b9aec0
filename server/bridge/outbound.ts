import type { Tx } from '../../shared/db/database.js'
import { findSmsConversationById } from '../../shared/db/contacts.js'
import { setConsent } from '../../shared/db/consent.js'
import { textingRefusal } from './consent.js'
import { getMessage, updateMessage } from '../../shared/db/messages.js'
import type { Message } from '../../shared/db/schema.js'
import { RetryLaterError } from '../../shared/errors.js'
import { maskPhone } from '../../shared/log.js'
import { partBodyToSms, segmentInfo, splitForSms } from '../../shared/text.js'
import { TWILIO_ERRORS, describeTwilioError } from '../../shared/twilio-errors.js'
import type { Config } from '../config.js'
import { enqueue } from '../jobs/queue.js'
import type { JobContext } from '../jobs/worker.js'
import type { BridgeDeps } from './deps.js'
import { addNote } from './intercom.js'

export const RELAY_REPLY = 'outbound.reply'
export const NOTIFY_FAILURE = 'outbound.notify_failure'

export interface ReplyPart {
  id: string
  partType: string
  body: string
  authorType: string
  attachments: Array<{ url: string; contentType: string | null; name: string | null }>
}

/**
 * Queues the parts of a webhook that must become texts: teammates' comments (and bots' when
 * RELAY_BOT_REPLIES is on). Notes, customer parts and everything else are not texts. A part seen in
 * another notification is queued once (the job key is the part id).
 */
export async function queueReplies(trx: Tx, config: Config, conversationId: string, parts: ReplyPart[]): Promise<number> {
  let queued = 0
  for (const part of parts) {
    if (part.partType !== 'comment') continue
    if (part.authorType !== 'admin' && !(part.authorType === 'bot' && config.relayBotReplies)) continue
    const { deduped } = await enqueue(trx, {
      task: RELAY_REPLY,
      payload: { conversationId, part },
      key: `reply:${part.id}`,
      queueKey: `conversation:${conversationId}`,
    })
    if (!deduped) queued++
  }
  return queued
}

/** MMS works from US and Canadian numbers (and Messaging Services, which pick such a sender). */
function senderSupportsMms(from: string | null, config: Config): boolean {
  if (!from) return Boolean(config.twilio.messagingServiceSid)
  return from.startsWith('+1')
}

/**
 * Who a text to this customer is sent from: the Messaging Service when one is set (`from` is null),
 * else our number they texted (replies go back from it), else the first configured number.
 * `recorded` is what the message row keeps as our end: the number or the service SID.
 */
export function senderFor(twilioNumber: string | null, config: Config): { from: string | null; recorded: string | null } {
  const service = config.twilio.messagingServiceSid
  if (service) return { from: null, recorded: service }
  const from = twilioNumber && config.twilio.phoneNumbers.includes(twilioNumber) ? twilioNumber : (config.twilio.phoneNumbers[0] ?? null)
  return { from, recorded: from }
}

/** Job: turns one teammate reply into one or more texts to the conversation's customer. */
export async function relayReply(deps: BridgeDeps, payload: { conversationId: string; part: ReplyPart }, ctx: JobContext): Promise<void> {
  const { conversationId, part } = payload
  const db = deps.store.db
  const link = await findSmsConversationById(db, conversationId)
  if (!link) return // not an SMS conversation
  const echo = await db.selectFrom('messages').select('id').where('direction', '=', 'inbound').where('intercom_part_id', '=', part.id).executeTakeFirst()
  if (echo) return // a part the bridge itself posted

  const { from, recorded } = senderFor(link.twilio_number, deps.config)
  let text = partBodyToSms(part.body)
  const urls = part.attachments.map((a) => a.url).slice(0, 10)
  const mms = urls.length > 0 && senderSupportsMms(from, deps.config)
  if (urls.length > 0 && !mms) text = [text, ...urls].filter(Boolean).join('\n')
  const chunks = text ? splitForSms(text) : ['']
  if (!text && !mms) return // nothing to send

  const refusal = await textingRefusal(deps, { phone: link.phone, automated: false })
  const refused = refusal !== null
  const now = Date.now()
  await deps.store.write(async (trx) => {
    for (const [index, chunk] of chunks.entries()) {
      const inserted = await trx
        .insertInto('messages')
        .values({
          direction: 'outbound',
          intercom_conversation_id: conversationId,
          intercom_contact_id: link.intercom_contact_id,
          intercom_part_id: part.id,
          part_index: index,
          phone: link.phone,
          twilio_number: recorded,
          body: chunk,
          media: JSON.stringify(index === 0 && mms ? urls.map((url) => ({ url, contentType: '' })) : []),
          num_segments: segmentInfo(chunk).segments,
          status: refused ? 'refused' : 'pending',
          error_message: refusal?.sentence ?? null,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst()
      if (inserted && refused && index === 0) {
        await enqueue(trx, { task: NOTIFY_FAILURE, payload: { messageId: inserted.id }, key: `notify:${inserted.id}` })
      }
    }
  })
  if (refused) {
    deps.wake()
    return
  }

  const rows = await db
    .selectFrom('messages')
    .selectAll()
    .where('direction', '=', 'outbound')
    .where('intercom_part_id', '=', part.id)
    .orderBy('part_index')
    .execute()
  for (const row of rows) {
    if (row.twilio_sid || row.status !== 'pending') continue
    const sent = await sendMessage(deps, row, ctx)
    if (!sent) break // a permanent failure: the rest of this reply is not sent either
  }
}

/**
 * Sends one stored outbound text through Twilio, at most once. Twilio's create is not idempotent:
 * when an earlier attempt may have reached Twilio (timeout, 5xx), its message log is searched first.
 * Returns false on a permanent failure (recorded, and the team told), throws to be retried.
 */
export async function sendMessage(deps: BridgeDeps, row: Message, ctx: JobContext, opts: { notifyFailure?: boolean } = {}): Promise<boolean> {
  const { twilio } = deps.clients
  const config = deps.config.twilio
  const media = JSON.parse(row.media) as Array<{ url: string }>
  if (row.send_attempted_at) {
    const recent = await twilio.messages.list({ to: row.phone, limit: 50 })
    const match = recent.find(
      (m) =>
        m.direction !== 'inbound' &&
        (m.body ?? '') === row.body &&
        m.dateCreated.getTime() >= row.send_attempted_at! - 60_000 &&
        (row.twilio_number === m.from || row.twilio_number === m.messagingServiceSid),
    )
    if (match) {
      await deps.store.write((trx) => updateMessage(trx, row.id, { twilio_sid: match.sid, status: match.status, num_segments: Number(match.numSegments) || row.num_segments }))
      ctx.log.info({ sid: match.sid }, 'an earlier attempt had reached Twilio; not sending again')
      return true
    }
  }
  await deps.store.write((trx) => updateMessage(trx, row.id, { send_attempted_at: Date.now() }))
  try {
    const message = await twilio.messages.create({
      to: row.phone,
      ...(config.messagingServiceSid ? { messagingServiceSid: config.messagingServiceSid } : { from: row.twilio_number! }),
      ...(row.body ? { body: row.body } : {}),
      ...(media.length ? { mediaUrl: media.map((m) => m.url) } : {}),
      statusCallback: `${deps.config.publicUrl}/twilio/status`,
    })
    await deps.store.write((trx) =>
      updateMessage(trx, row.id, { twilio_sid: message.sid, status: message.status, num_segments: Number(message.numSegments) || row.num_segments }),
    )
    ctx.log.info({ sid: message.sid, phone: maskPhone(row.phone) }, 'reply sent as SMS')
    return true
  } catch (err) {
    const e = err as { status?: number; code?: number; message?: string }
    if (e.status === 429 || e.code === 20429) throw new RetryLaterError(5_000, 'Twilio asked us to slow down', { cause: err })
    const known = e.code ? TWILIO_ERRORS[e.code] : undefined
    if (e.status === undefined || e.status >= 500 || known?.permanent === false) {
      throw new Error(`Twilio did not confirm the text (${e.status ?? 'no answer'}); will check and retry`, { cause: err })
    }
    await recordFailure(deps, row, e.code ?? null, e.message ?? 'refused', opts.notifyFailure ?? true)
    return false
  }
}

/** Marks a text failed for good, records an opt-out Twilio reported, and queues one note. */
async function recordFailure(deps: BridgeDeps, row: Message, code: number | null, message: string, notify: boolean): Promise<void> {
  await deps.store.write(async (trx) => {
    await updateMessage(trx, row.id, { status: 'failed', error_code: code, error_message: describeTwilioError(code, message) })
    if (code && TWILIO_ERRORS[code]?.optedOut) await setConsent(trx, row.phone, 'opted_out', `twilio:${code}`)
    if (notify && row.intercom_conversation_id) {
      await enqueue(trx, { task: NOTIFY_FAILURE, payload: { messageId: row.id }, key: `notify:${row.id}` })
    }
  })
  deps.wake()
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
}

/** Job: one note in the conversation saying, in plain words, that a text did not reach the customer. */
export async function notifyFailure(deps: BridgeDeps, payload: { messageId: number }): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  // A text outside any conversation (a welcome before the first one): the sidebar shows its status.
  if (!message?.intercom_conversation_id) return
  const preview = message.body.length > 80 ? `${message.body.slice(0, 77)}...` : message.body
  const html =
    message.status === 'refused'
      ? `<p><b>Not sent as SMS:</b> ${escapeHtml(message.error_message ?? 'the customer may not be texted.')}</p><p>Reply: "${escapeHtml(preview)}"</p>`
      : `<p><b>The text did not reach the customer</b>${message.error_code ? ` (Twilio error ${message.error_code})` : ''}: ${escapeHtml(message.error_message ?? describeTwilioError(message.error_code))}</p>` +
        `<p>Reply: "${escapeHtml(preview)}"${message.twilio_sid ? ` — Twilio MessageSid ${message.twilio_sid}` : ''}</p>`
  await addNote(deps, message.intercom_conversation_id, html)
}
