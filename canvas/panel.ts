import { findPhoneContact, findSmsConversation, linkPhoneContact, relinkPhone, setSmsConversation } from '../shared/db/contacts.js'
import { getConsent, setConsent } from '../shared/db/consent.js'
import { getMessage, insertMessage } from '../shared/db/messages.js'
import { formatForReading, isTextableNumber, toE164 } from '../shared/phone.js'
import { MAX_SMS_BODY, segmentInfo, type SegmentInfo } from '../shared/text.js'
import { requestAutomated } from '../server/bridge/automated.js'
import { CONSENT_ATTRIBUTE, textingRefusal } from '../server/bridge/consent.js'
import type { BridgeDeps } from '../server/bridge/deps.js'
import { addNote, ensureContactAttribute, intercomCall } from '../server/bridge/intercom.js'
import { POST_NOTE, sendMessage, senderFor } from '../server/bridge/outbound.js'
import { startVerification } from '../server/bridge/verification.js'
import { escapeHtml } from '../shared/text.js'
import { nextTextOutlook } from '../shared/twilio-errors.js'
import type { JobContext } from '../server/jobs/worker.js'
import { enqueue } from '../server/jobs/queue.js'
import type { PanelFlash, PanelState } from './views.js'

export const SEND_FROM_PANEL = 'canvas.send'

/** The contact's SMS number: our link first, then what Intercom sent with the request. */
async function phoneOf(deps: BridgeDeps, contactId: string, given?: string | null): Promise<string | null> {
  const conversation = await findSmsConversation(deps.store.db, contactId)
  if (conversation) return conversation.phone
  const link = await deps.store.db.selectFrom('phone_contacts').select('phone').where('intercom_contact_id', '=', contactId).orderBy('updated_at', 'desc').executeTakeFirst()
  if (link) return link.phone
  return given ? toE164(given, deps.config.defaultCountry) : null
}

export async function loadPanel(deps: BridgeDeps, contactId: string, givenPhone?: string | null): Promise<PanelState> {
  const db = deps.store.db
  const phone = await phoneOf(deps, contactId, givenPhone)
  // This contact's own texts only: never everything ever exchanged with the number on the record,
  // which a lead can often set themselves.
  const messages = await db
    .selectFrom('messages')
    .selectAll()
    .where('intercom_contact_id', '=', contactId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(5)
    .execute()
  const welcome = await db.selectFrom('automated_sends').selectAll().where('key', '=', `welcome:${contactId}`).executeTakeFirst()
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

export interface PanelContext {
  contactId: string
  conversationId: string | null
  adminId: string | null
  adminName: string | null
  givenPhone: string | null
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
    const id = await insertMessage(trx, {
      direction: 'outbound',
      intercom_conversation_id: conversationId,
      intercom_contact_id: ctx.contactId,
      phone,
      twilio_number: recorded,
      body,
      num_segments: segments.segments,
      status: 'pending',
      created_at: now,
      updated_at: now,
    })
    await enqueue(trx, { task: SEND_FROM_PANEL, payload: { messageId: id, adminName: ctx.adminName }, key: `panel:${id}`, queueKey: `phone:${phone}` }, now)
  })
  deps.wake()
  return { flash: { notice: `Queued: ${segments.segments} segment${segments.segments === 1 ? '' : 's'} (${segments.encoding}).` }, segments }
}

/** "Send welcome SMS": the same once-only record and job as the automatic welcome. */
export async function welcomeFromPanel(deps: BridgeDeps, ctx: PanelContext): Promise<PanelFlash> {
  if (!deps.config.welcome.template) return { error: 'The welcome text is off (WELCOME_SMS_TEMPLATE is empty).' }
  const phone = await phoneOf(deps, ctx.contactId, ctx.givenPhone)
  const { created, send } = await deps.store.write((trx) =>
    requestAutomated(trx, { key: `welcome:${ctx.contactId}`, kind: 'welcome', contactId: ctx.contactId, phone, requestedBy: `admin:${ctx.adminId ?? 'unknown'}` }),
  )
  if (created) deps.wake()
  return created ? { notice: 'Welcome SMS queued.' } : { notice: `The welcome SMS was already ${send.status === 'sent' ? 'sent' : send.status}.` }
}

/** Saves a number typed in the sidebar on the Intercom contact and in our link. */
export async function savePhone(deps: BridgeDeps, ctx: PanelContext, typed: string, options: { takeOver?: boolean } = {}): Promise<PanelFlash> {
  const phone = toE164((typed ?? '').slice(0, 64), deps.config.defaultCountry)
  if (!phone) return { phoneError: 'That is not a phone number. Include the country code, e.g. +1 415 555 0100.' }
  if (!(await isTextableNumber(phone))) return { phoneError: 'That number cannot receive texts (not a mobile number).' }
  // A number linked to another contact is not taken silently: the teammate is told, and chooses.
  const link = await findPhoneContact(deps.store.db, phone)
  if (link && link.intercom_contact_id !== ctx.contactId && !options.takeOver) {
    return { phoneError: `This number is linked to another contact (${link.intercom_contact_id}). Link it to this contact instead?`, takeOver: phone }
  }
  await intercomCall('save the phone number', () => deps.clients.intercom.contacts.update({ contact_id: ctx.contactId, phone }))
  await deps.store.write(async (trx) => {
    await relinkPhone(trx, phone, ctx.contactId)
    if (link && link.intercom_contact_id !== ctx.contactId && ctx.conversationId) {
      const who = ctx.adminName ? escapeHtml(ctx.adminName) : 'A teammate'
      await enqueue(trx, {
        task: POST_NOTE,
        payload: { conversationId: ctx.conversationId, html: `<p><b>${who} moved ${escapeHtml(formatForReading(phone))} to this contact</b> from contact ${escapeHtml(link.intercom_contact_id)}: texts from that number now thread here.</p>` },
        key: `relink:${phone}:${ctx.contactId}:${Date.now()}`,
      })
    }
  })
  deps.wake()
  return { notice: 'Number saved.' }
}

/**
 * The Messenger card, first step: a number and agreement to texts, checked, then a code texted to
 * the number (nothing is linked or recorded until the visitor proves they hold it).
 */
export async function subscribeFromMessenger(
  deps: BridgeDeps,
  contactId: string,
  typed: string,
  agreed: boolean,
): Promise<{ ok: true; phone: string; verificationId: number } | { ok: false; phoneError?: string; consentError?: string }> {
  const phone = toE164((typed ?? '').slice(0, 64), deps.config.defaultCountry)
  const phoneError = !phone
    ? 'Please enter a mobile number with its country code, e.g. +1 415 555 0100.'
    : !(await isTextableNumber(phone))
      ? 'That number cannot receive texts. Please use a mobile number.'
      : undefined
  const consentError = agreed ? undefined : 'Please tick the box to agree to text messages.'
  if (phoneError || consentError || !phone) return { ok: false, phoneError, consentError }
  const started = await startVerification(deps, contactId, phone)
  return started.ok ? { ok: true, phone, verificationId: started.verificationId } : { ok: false, phoneError: started.error }
}

/**
 * The Messenger card, last step, once the visitor proved they hold the number: saved on the
 * contact with consent, then one confirmation text. A number linked to another contact is never
 * taken over from here, and an opted-out number is never opted back in (only START from the phone
 * does that): both were refused before a code was sent, and are checked again here.
 */
export async function completeSubscription(deps: BridgeDeps, contactId: string, phone: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const link = await findPhoneContact(deps.store.db, phone)
  if (link && link.intercom_contact_id !== contactId) return { ok: false, error: 'This number cannot be used here. Please ask us in the chat.' }
  if ((await getConsent(deps.store.db, phone))?.state === 'opted_out') return { ok: false, error: 'This number opted out of our texts. Text START to us from that phone first.' }
  await ensureContactAttribute(deps, CONSENT_ATTRIBUTE, 'boolean', 'The contact agreed to receive text messages (recorded by the SMS bridge)')
  await intercomCall('save the phone number and consent', () =>
    deps.clients.intercom.contacts.update({ contact_id: contactId, phone, custom_attributes: { [CONSENT_ATTRIBUTE]: true } }),
  )
  const { created } = await deps.store.write(async (trx) => {
    const now = Date.now()
    await setConsent(trx, phone, 'opted_in', 'messenger', now, true)
    await linkPhoneContact(trx, { phone, contactId, role: null, createdByBridge: false }, now)
    return requestAutomated(trx, {
      key: `confirm:${contactId}:${phone}`,
      kind: 'confirmation',
      contactId,
      phone,
      body: 'Thanks! You will now get our replies by text. Reply STOP to opt out.',
      requestedBy: 'messenger',
    })
  })
  if (created) deps.wake()
  return { ok: true }
}

/** Job: sends a text written in the sidebar, and notes it in the conversation for the team. */
export async function sendPanelMessage(deps: BridgeDeps, payload: { messageId: number; adminName: string | null }, ctx: JobContext): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message) return
  const sent = message.twilio_sid ? true : message.status === 'pending' ? await sendMessage(deps, message, ctx) : false
  if (!sent || !message.intercom_conversation_id) return
  await deps.store.write((trx) =>
    enqueue(trx, { task: NOTE_PANEL, payload: { messageId: message.id, adminName: payload.adminName }, key: `panelnote:${message.id}` }),
  )
  deps.wake()
}

export const NOTE_PANEL = 'canvas.note'

/** Job: a note, so the conversation shows what the customer was texted from the sidebar. */
export async function notePanelMessage(deps: BridgeDeps, payload: { messageId: number; adminName: string | null }): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message?.intercom_conversation_id) return
  const who = payload.adminName ? ` by ${escapeHtml(payload.adminName)}` : ''
  await addNote(deps, message.intercom_conversation_id, `<p><b>Sent by SMS from the sidebar${who}</b> (Twilio MessageSid ${message.twilio_sid ?? 'pending'}):</p><p>${escapeHtml(message.body)}</p>`)
}
