import { runIn } from '../../shared/db/statement.js'
import { findPhoneContact, findSmsConversation, latestPhoneOfContact, setLinkMarked, relinkPhone, setSmsConversation } from '../../shared/db/contacts.js'
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
import { mergeCandidates, onLinkedContact } from './links.js'
import { MARK_ATTRIBUTE, MARK_DESCRIPTION, numberTrust, phoneMark, type ContactFacts } from './trust.js'

/**
 * What the inbox sidebar (Canvas Kit, `canvas/`) does: read the panel from the bridge's own database,
 * and record and queue what a teammate asks for. Nothing here calls Intercom or Twilio while the
 * teammate waits; the jobs below do, like every other effect.
 */

/**
 * The contact's SMS number: our link first; else the phone on the contact's profile, as the Canvas
 * Kit request carries it, which is confirmed only when the rules in trust.ts say whose it is (a
 * user's phone, the bridge's mark). A lead's own phone waits for a teammate to confirm it.
 */
export async function numberOf(deps: BridgeDeps, contact: ContactFacts): Promise<{ phone: string; confirmed: boolean } | null> {
  const conversation = await findSmsConversation(deps.store.db, contact.id)
  if (conversation) return { phone: conversation.phone, confirmed: true }
  const linked = await latestPhoneOfContact(deps.store.db, contact.id)
  if (linked) return { phone: linked, confirmed: true }
  const given = contact.phone ? toE164(contact.phone, deps.config.defaultCountry) : null
  if (!given) return null
  return { phone: given, confirmed: (await numberTrust(deps, contact, given)) !== null }
}

/** The panel's number, when it may be texted: else the sentence that says why not. */
async function textableNumber(deps: BridgeDeps, ctx: PanelContext): Promise<{ phone: string } | { error: string }> {
  const number = await numberOf(deps, ctx.contact)
  if (!number) return { error: 'Add a mobile number first.' }
  if (!number.confirmed) return { error: UNCONFIRMED }
  return { phone: number.phone }
}

const UNCONFIRMED = 'Confirm the number first ("Use this number"): it is only on the contact\'s profile, which a visitor can set.'

export async function loadPanel(deps: BridgeDeps, contact: ContactFacts): Promise<PanelState> {
  const db = deps.store.db
  const number = await numberOf(deps, contact)
  const phone = number?.phone ?? null
  // This contact's own texts only: never everything ever exchanged with the number on the record,
  // which a lead can often set themselves.
  const messages = await recentMessagesOfContact(db, contact.id, 5)
  const welcome = await getAutomatedSend(db, sendKeys.welcome(contact.id))
  let consent: PanelState['consent'] = { state: 'ok', sentence: 'Can be texted.' }
  if (phone && !number?.confirmed) {
    consent = { state: 'unconfirmed', sentence: 'This number is on the contact\'s profile, which a visitor can set: use it only if you know it is theirs.' }
  } else if (phone) {
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
    mergeInto: (await mergeCandidates(deps, contact.id))[0] ?? null,
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
  const number = await textableNumber(deps, ctx)
  if ('error' in number) return { flash: { error: number.error, draft: text } }
  const phone = number.phone
  const refusal = await textingRefusal(deps, { phone, automated: false })
  if (refusal) return { flash: { error: `Not sent: ${refusal.sentence}`, draft: text } }

  const existing = await findSmsConversation(deps.store.db, ctx.contact.id)
  const { from, recorded } = senderFor(existing?.twilio_number ?? null, deps.config)
  const conversationId = ctx.conversationId ?? existing?.intercom_conversation_id ?? null
  const segments = segmentInfo(body)
  await deps.store.transaction(async (trx) => {
    const now = Date.now()
    if (ctx.conversationId) {
      await runIn(trx, ...setSmsConversation({ contactId: ctx.contact.id, conversationId: ctx.conversationId, phone, twilioNumber: from ?? existing?.twilio_number ?? null }, now))
    }
    const id = await createOutboundMessage(trx, { conversationId, contactId: ctx.contact.id, phone, from: recorded, body }, now)
    await runIn(trx, enqueueTask('canvas.send', { messageId: id, adminName: ctx.adminName }, { key: jobKeys.panelSend(id), queueKey: queues.phone(phone) }, now))
  })
  return { flash: { notice: `Queued: ${segments.segments} segment${segments.segments === 1 ? '' : 's'} (${segments.encoding}).` }, segments }
}

/** "Send welcome SMS": the same once-only record and job as the automatic welcome. */
export async function welcomeFromPanel(deps: BridgeDeps, ctx: PanelContext): Promise<PanelFlash> {
  if (!deps.config.welcome.template) return { error: 'The welcome text is off (WELCOME_SMS_TEMPLATE is empty).' }
  const number = await textableNumber(deps, ctx)
  if ('error' in number) return { error: number.error }
  const phone = number.phone
  const { created, send } = await deps.store.transaction((trx) =>
    requestAutomated(trx, { key: sendKeys.welcome(ctx.contact.id), kind: 'welcome', contactId: ctx.contact.id, phone, requestedBy: `admin:${ctx.adminId ?? 'unknown'}` }),
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
  if (link && link.intercom_contact_id !== ctx.contact.id && !options.takeOver) {
    return { phoneError: `This number is linked to another contact (${link.intercom_contact_id}). Link it to this contact instead?`, takeOver: phone }
  }
  await deps.store.transaction(async (trx) => {
    const now = Date.now()
    await runIn(trx, relinkPhone(phone, ctx.contact.id, 'teammate', now))
    await savePhoneLater(trx, { contactId: ctx.contact.id, phone, consent: false, conversationId: ctx.conversationId }, now)
    if (link && link.intercom_contact_id !== ctx.contact.id && ctx.conversationId) {
      const who = ctx.adminName ? escapeHtml(ctx.adminName) : 'A teammate'
      const html = `<p><b>${who} moved ${escapeHtml(formatForReading(phone))} to this contact</b> from contact ${escapeHtml(link.intercom_contact_id)}: texts from that number now thread here.</p>`
      await runIn(trx, enqueueTask('conversation.note', { conversationId: ctx.conversationId, html }, { key: jobKeys.relinkNote(phone, ctx.contact.id, now) }))
    }
  })
  return { notice: 'Number saved.' }
}

/** Queues writing a number (and, from the Messenger card, consent) onto the Intercom contact. */
export async function savePhoneLater(trx: Tx, save: TaskPayload<'contact.save_phone'>, now = Date.now()): Promise<void> {
  await runIn(trx, enqueueTask('contact.save_phone', save, { key: jobKeys.savePhone(save.contactId, save.phone, now), queueKey: queues.contact(save.contactId) }, now))
}

/**
 * Job: the number (and consent, when the visitor gave it) on the Intercom contact, with the bridge's
 * mark for it, so the link is found again should our records be lost.
 */
export async function savePhoneOnContact(deps: BridgeDeps, payload: TaskPayload<'contact.save_phone'>): Promise<void> {
  await deps.intercom.ensureContactAttribute(MARK_ATTRIBUTE, 'string', MARK_DESCRIPTION)
  if (payload.consent) await deps.intercom.ensureContactAttribute(CONSENT_ATTRIBUTE, 'boolean', 'The contact agreed to receive text messages (recorded by the SMS bridge)')
  // Merged in Intercom meanwhile: written on the survivor, with the mark for it.
  const contactId = await onLinkedContact(deps, payload.contactId, async (id) => {
    const attributes: Record<string, string | boolean> = { [MARK_ATTRIBUTE]: phoneMark(deps.config, id, payload.phone), ...(payload.consent ? { [CONSENT_ATTRIBUTE]: true } : {}) }
    await deps.intercom.updateContact(id, { phone: payload.phone, customAttributes: attributes }, payload.consent ? 'save the phone number and consent' : 'save the phone number')
    return id
  })
  await deps.store.run(setLinkMarked(payload.phone, contactId, deps.clock.now()))
}

/** The number could not be written onto the contact for good: the conversation says so (our link stands). */
export async function savePhoneGaveUp(trx: Tx, payload: TaskPayload<'contact.save_phone'>, job: Job, error: string): Promise<void> {
  if (!payload.conversationId) return
  const html =
    `<p><b>${escapeHtml(formatForReading(payload.phone))} could not be saved on the Intercom contact</b> (${escapeHtml(error.slice(0, 300))}).</p>` +
    `<p>Texts to and from it still thread here: the bridge keeps its own link.</p>`
  await runIn(trx, enqueueTask('conversation.note', { conversationId: payload.conversationId, html }, { key: jobKeys.gaveUp(job.id) }))
}

/** Job: sends a text written in the sidebar, and notes it in the conversation for the team. */
export async function sendPanelMessage(deps: BridgeDeps, payload: TaskPayload<'canvas.send'>, ctx: JobContext): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message) return
  const sent = message.twilio_sid ? true : message.status === 'pending' ? await sendMessage(deps, message, ctx) : false
  if (!sent || !message.intercom_conversation_id) return
  await deps.store.run(enqueueTask('canvas.note', { messageId: message.id, adminName: payload.adminName }, { key: jobKeys.panelNote(message.id) }))
}

/** Job: a note, so the conversation shows what the customer was texted from the sidebar. */
export async function notePanelMessage(deps: BridgeDeps, payload: TaskPayload<'canvas.note'>): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message?.intercom_conversation_id) return
  const who = payload.adminName ? ` by ${escapeHtml(payload.adminName)}` : ''
  await deps.intercom.addNote(message.intercom_conversation_id, `<p><b>Sent by SMS from the sidebar${who}</b> (Twilio MessageSid ${message.twilio_sid ?? 'pending'}):</p><p>${escapeHtml(message.body)}</p>`)
}
