import { findPhoneContact, findSmsConversation, latestPhoneOfContact, relinkPhone, setSmsConversation } from '../../shared/db/contacts.js'
import { getAutomatedSend } from '../../shared/db/automated.js'
import { createOutboundMessage, getMessage, recentMessagesOfContact } from '../../shared/db/messages.js'
import type { Tx } from '../../shared/db/database.js'
import type { Job } from '../../shared/db/schema.js'
import { formatForReading, isTextableNumber, toE164 } from '../../shared/phone.js'
import { MAX_SMS_BODY, escapeHtml, segmentInfo, type SegmentInfo } from '../../shared/text.js'
import { nextTextOutlook } from '../../shared/twilio-errors.js'
import type { PanelFlash, PanelState } from '../../canvas/views.js'
import type { PanelContext } from '../../canvas/actions.js'
import type { JobContext } from '../jobs/worker.js'
import { requestAutomated } from './automated.js'
import { CONSENT_ATTRIBUTE, textingRefusal } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { enqueueTask, type TaskPayload } from './jobs.js'
import { jobKeys, queues, sendKeys } from './keys.js'
import { sendMessage, senderFor } from './outbound.js'

/**
 * What the inbox sidebar (Canvas Kit, `canvas/`) does: read the panel from the bridge's own database,
 * and record and queue what a teammate asks for. Nothing here calls Intercom or Twilio while the
 * teammate waits; the jobs below do, like every other effect.
 */

/** The contact's SMS number: our link first, then what Intercom sent with the request. */
export async function phoneOf(deps: BridgeDeps, contactId: string, given?: string | null): Promise<string | null> {
  const conversation = await findSmsConversation(deps.store.db, contactId)
  if (conversation) return conversation.phone
  const linked = await latestPhoneOfContact(deps.store.db, contactId)
  if (linked) return linked
  return given ? toE164(given, deps.config.defaultCountry) : null
}

export async function loadPanel(deps: BridgeDeps, contactId: string, givenPhone?: string | null): Promise<PanelState> {
  const db = deps.store.db
  const phone = await phoneOf(deps, contactId, givenPhone)
  // This contact's own texts only: never everything ever exchanged with the number on the record,
  // which a lead can often set themselves.
  const messages = await recentMessagesOfContact(db, contactId, 5)
  const welcome = await getAutomatedSend(db, sendKeys.welcome(contactId))
  let consent: PanelState['consent'] = { state: 'ok', sentence: 'Can be texted.' }
  if (phone) {
    // The same rules the senders apply: a teammate's text, then an automated one.
    const refusal = await textingRefusal(deps, { phone, automated: false })
    if (refusal) consent = { state: 'opted_out', sentence: refusal.sentence }
    else if ((await textingRefusal(deps, { phone, automated: true }))?.code === 'consent_required') {
      consent = { state: 'consent_required', sentence: 'Can be texted in reply. Automated texts need consent (SMS_CONSENT=required).' }
    }
    // "Can be texted" is not true of a number whose last text failed for what the number is.
    const lastOut = messages.find((m) => m.direction === 'outbound' && m.phone === phone)
    const outlook = lastOut && (lastOut.status === 'failed' || lastOut.status === 'undelivered') ? nextTextOutlook(lastOut.error_code) : undefined
    if (outlook && consent.state === 'ok') consent = { state: 'last_failed', sentence: outlook }
  }
  return {
    phone,
    consent,
    messages,
    welcome: welcome ? { status: welcome.status, at: welcome.updated_at, reason: welcome.reason } : null,
    welcomeEnabled: Boolean(deps.config.welcome.template),
  }
}

/**
 * "Send SMS" in the sidebar: validated, refused when the customer opted out, else stored and queued.
 * The conversation the panel is open in becomes the contact's SMS conversation.
 */
export async function sendFromPanel(deps: BridgeDeps, ctx: PanelContext, text: string): Promise<{ flash: PanelFlash; segments?: SegmentInfo }> {
  const body = text.trim()
  if (!body) return { flash: { error: 'Write a message first.' } }
  if (body.includes('\u0000')) return { flash: { error: 'The text contains a character that cannot be sent (NUL).', draft: text.replaceAll('\u0000', '') } }
  if (body.length > MAX_SMS_BODY) return { flash: { error: `Too long: ${body.length} characters, at most ${MAX_SMS_BODY}.`, draft: text } }
  const phone = await phoneOf(deps, ctx.contactId, ctx.givenPhone)
  if (!phone) return { flash: { error: 'Add a mobile number first.' } }
  const refusal = await textingRefusal(deps, { phone, automated: false })
  if (refusal) return { flash: { error: `Not sent: ${refusal.sentence}`, draft: text } }

  const existing = await findSmsConversation(deps.store.db, ctx.contactId)
  const { from, recorded } = senderFor(existing?.twilio_number ?? null, deps.config)
  const conversationId = ctx.conversationId ?? existing?.intercom_conversation_id ?? null
  const segments = segmentInfo(body)
  await deps.store.write(async (trx) => {
    const now = Date.now()
    if (ctx.conversationId) {
      await setSmsConversation(trx, { contactId: ctx.contactId, conversationId: ctx.conversationId, phone, twilioNumber: from ?? existing?.twilio_number ?? null }, now)
    }
    const id = await createOutboundMessage(trx, { conversationId, contactId: ctx.contactId, phone, from: recorded, body }, now)
    await enqueueTask(trx, 'canvas.send', { messageId: id, adminName: ctx.adminName }, { key: jobKeys.panelSend(id), queueKey: queues.phone(phone) }, now)
  })
  return { flash: { notice: `Queued: ${segments.segments} segment${segments.segments === 1 ? '' : 's'} (${segments.encoding}).` }, segments }
}

/** "Send welcome SMS": the same once-only record and job as the automatic welcome. */
export async function welcomeFromPanel(deps: BridgeDeps, ctx: PanelContext): Promise<PanelFlash> {
  if (!deps.config.welcome.template) return { error: 'The welcome text is off (WELCOME_SMS_TEMPLATE is empty).' }
  const phone = await phoneOf(deps, ctx.contactId, ctx.givenPhone)
  const { created, send } = await deps.store.write((trx) =>
    requestAutomated(trx, { key: sendKeys.welcome(ctx.contactId), kind: 'welcome', contactId: ctx.contactId, phone, requestedBy: `admin:${ctx.adminId ?? 'unknown'}` }),
  )
  return created ? { notice: 'Welcome SMS queued.' } : { notice: `The welcome SMS was already ${send.status === 'sent' ? 'sent' : send.status}.` }
}

/**
 * Saves a number typed in the sidebar: our link at once (texts from and to it thread here from now
 * on), the Intercom contact's phone by a job.
 */
export async function savePhone(deps: BridgeDeps, ctx: PanelContext, typed: string, options: { takeOver?: boolean } = {}): Promise<PanelFlash> {
  const phone = toE164((typed ?? '').slice(0, 64), deps.config.defaultCountry)
  if (!phone) return { phoneError: 'That is not a phone number. Include the country code, e.g. +1 415 555 0100.' }
  if (!(await isTextableNumber(phone))) return { phoneError: 'That number cannot receive texts (not a mobile number).' }
  // A number linked to another contact is not taken silently: the teammate is told, and chooses.
  const link = await findPhoneContact(deps.store.db, phone)
  if (link && link.intercom_contact_id !== ctx.contactId && !options.takeOver) {
    return { phoneError: `This number is linked to another contact (${link.intercom_contact_id}). Link it to this contact instead?`, takeOver: phone }
  }
  await deps.store.write(async (trx) => {
    const now = Date.now()
    await relinkPhone(trx, phone, ctx.contactId, now)
    await savePhoneLater(trx, { contactId: ctx.contactId, phone, consent: false, conversationId: ctx.conversationId }, now)
    if (link && link.intercom_contact_id !== ctx.contactId && ctx.conversationId) {
      const who = ctx.adminName ? escapeHtml(ctx.adminName) : 'A teammate'
      const html = `<p><b>${who} moved ${escapeHtml(formatForReading(phone))} to this contact</b> from contact ${escapeHtml(link.intercom_contact_id)}: texts from that number now thread here.</p>`
      await enqueueTask(trx, 'conversation.note', { conversationId: ctx.conversationId, html }, { key: jobKeys.relinkNote(phone, ctx.contactId, now) })
    }
  })
  return { notice: 'Number saved.' }
}

/** Queues writing a number (and, from the Messenger card, consent) onto the Intercom contact. */
export async function savePhoneLater(trx: Tx, save: TaskPayload<'contact.save_phone'>, now = Date.now()): Promise<void> {
  await enqueueTask(trx, 'contact.save_phone', save, { key: jobKeys.savePhone(save.contactId, save.phone, now), queueKey: queues.contact(save.contactId) }, now)
}

/** Job: the number (and consent, when the visitor gave it) on the Intercom contact. */
export async function savePhoneOnContact(deps: BridgeDeps, payload: TaskPayload<'contact.save_phone'>): Promise<void> {
  if (payload.consent) {
    await deps.intercom.ensureContactAttribute(CONSENT_ATTRIBUTE, 'boolean', 'The contact agreed to receive text messages (recorded by the SMS bridge)')
    await deps.intercom.updateContact(payload.contactId, { phone: payload.phone, customAttributes: { [CONSENT_ATTRIBUTE]: true } }, 'save the phone number and consent')
  } else {
    await deps.intercom.updateContact(payload.contactId, { phone: payload.phone }, 'save the phone number')
  }
}

/** The number could not be written onto the contact for good: the conversation says so (our link stands). */
export async function savePhoneGaveUp(trx: Tx, payload: TaskPayload<'contact.save_phone'>, job: Job, error: string): Promise<void> {
  if (!payload.conversationId) return
  const html =
    `<p><b>${escapeHtml(formatForReading(payload.phone))} could not be saved on the Intercom contact</b> (${escapeHtml(error.slice(0, 300))}).</p>` +
    `<p>Texts to and from it still thread here: the bridge keeps its own link.</p>`
  await enqueueTask(trx, 'conversation.note', { conversationId: payload.conversationId, html }, { key: jobKeys.gaveUp(job.id) })
}

/** Job: sends a text written in the sidebar, and notes it in the conversation for the team. */
export async function sendPanelMessage(deps: BridgeDeps, payload: TaskPayload<'canvas.send'>, ctx: JobContext): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message) return
  const sent = message.twilio_sid ? true : message.status === 'pending' ? await sendMessage(deps, message, ctx) : false
  if (!sent || !message.intercom_conversation_id) return
  await deps.store.write((trx) => enqueueTask(trx, 'canvas.note', { messageId: message.id, adminName: payload.adminName }, { key: jobKeys.panelNote(message.id) }))
}

/** Job: a note, so the conversation shows what the customer was texted from the sidebar. */
export async function notePanelMessage(deps: BridgeDeps, payload: TaskPayload<'canvas.note'>): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message?.intercom_conversation_id) return
  const who = payload.adminName ? ` by ${escapeHtml(payload.adminName)}` : ''
  await deps.intercom.addNote(message.intercom_conversation_id, `<p><b>Sent by SMS from the sidebar${who}</b> (Twilio MessageSid ${message.twilio_sid ?? 'pending'}):</p><p>${escapeHtml(message.body)}</p>`)
}
