import { z } from 'zod'
import { runIn } from '../../shared/db/statement.js'
import {
  findPhoneContact,
  findSmsConversation,
  latestPhoneOfContact,
  setLinkMarked,
  relinkPhone,
  setSmsConversation,
} from '../../shared/db/contacts.js'
import { getAutomatedSend } from '../../shared/db/automated.js'
import { pendingRevocation } from '../../shared/db/revocations.js'
import { createOutboundMessage, getMessage, recentMessagesOfContact } from '../../shared/db/messages.js'
import type { Tx } from '../../shared/db/database.js'
import type { ConsentEvent, Job, Message, ScheduledText } from '../../shared/db/schema.js'
import { openScheduledTexts } from '../../shared/db/scheduled.js'
import { latestConsentEvent } from '../../shared/db/consent.js'
import { formatForReading, readTypedNumber, toE164, type TypedNumberProblem } from '../../shared/phone.js'
import { MAX_SMS_BODY, escapeHtml, segmentInfo, type SegmentInfo } from '../../shared/text.js'
import type { JobContext } from '../queue/worker.js'
import { requestAutomated, sendKeys } from './automated.js'
import { CONSENT_ATTRIBUTE, textingRefusal, type Refusal } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { queues } from './keys.js'
import { noteTask, sendMessage } from './outbound.js'
import { chooseSender } from './senders.js'
import { mergeCandidates, onLinkedContact } from './links.js'
import { MARK_ATTRIBUTE, numberTrust, phoneMark, type ContactFacts } from './trust.js'
import { CONTACT_ATTRIBUTES } from './contact-attributes.js'

const id = z.string().min(1)
const savePhonePayload = z.object({ contactId: id, phone: id, consent: z.boolean(), conversationId: id.nullable() })
type SavePhone = z.output<typeof savePhonePayload>
const panelPayload = z.object({ messageId: z.number().int().positive(), adminName: z.string().nullable() })

/** Writing a saved number (and consent) onto the Intercom contact, once per save, in the contact's order. */
export const savePhoneTask = defineTask('contact.save_phone', savePhonePayload, {
  lane: 'reply',
  run: savePhoneOnContact,
  onDead: savePhoneGaveUp,
  keys: { savePhone: (contactId: string, phone: string, at: number) => `savephone:${contactId}:${phone}:${at}` },
})

/** Sending a text written in the sidebar, once per text, in the phone's order. */
export const panelSendTask = defineTask('canvas.send', panelPayload, {
  lane: 'reply',
  run: sendPanelMessage,
  keys: { panelSend: (messageId: number) => `panel:${messageId}` },
})

/** The note of a text sent from the sidebar, once per text. */
export const panelNoteTask = defineTask('canvas.note', panelPayload, {
  lane: 'reply',
  run: notePanelMessage,
  keys: { panelNote: (messageId: number) => `panelnote:${messageId}` },
})

/**
 * What the inbox sidebar (Canvas Kit, `canvas/inbox.ts`) does: read the panel from the bridge's own
 * database, and record and queue what a teammate asks for, one function per button, each returning
 * an outcome that the panel's views say in words. Nothing here calls Intercom or Twilio while the
 * teammate waits; the jobs below do, like every other effect.
 */

/** The contact a sidebar request is about, as Intercom's request describes them (role and profile included). */
export interface PanelContact {
  id: string
  role: string | null
  /** The phone on the contact's profile: a lead can set it from the Messenger. */
  phone: string | null
  custom_attributes: Record<string, unknown> | null
}

/** Who asked, from where: the Canvas Kit request, reduced to what the bridge needs. */
export interface PanelContext {
  contact: PanelContact
  conversationId: string | null
  adminId: string | null
  adminName: string | null
}

/** Whether the panel's number can be texted now. */
export type PanelConsent =
  | { state: 'consent_required' | 'unconfirmed' }
  /** `since`: the ledger's latest change, when it has one (how consent came to be what it is). */
  | { state: 'ok'; since: ConsentEvent | null }
  | { state: 'opted_out'; refusal: Refusal; since: ConsentEvent | null }
  /** It can, but the last text failed (Twilio's error code) for a reason the next one will likely meet too. */
  | { state: 'last_failed'; errorCode: number }

/** What the inbox panel shows; read from the bridge's own database, never from Intercom. */
export interface PanelState {
  phone: string | null
  consent: PanelConsent
  messages: Message[]
  welcome: { status: string; at: number; reason: string | null } | null
  welcomeEnabled: boolean
  /** A user the bridge's own lead may be merged into (they have the number too). */
  mergeInto: { id: string; name: string | null } | null
  /** A text that read like a request to stop texts, not yet honoured or dismissed (revocations.ts). */
  revocation: { askedAt: number; honourBy: string } | null
  /** Texts scheduled for later, still waiting or held (scheduled.ts). */
  scheduled: ScheduledText[]
}

/** The panel's number may not be texted: there is none, or only the contact's profile says it. */
type NoNumber = { kind: 'refused'; reason: 'no_number' | 'unconfirmed' }

export type SendOutcome =
  | { kind: 'queued'; segments: SegmentInfo }
  | { kind: 'invalid'; field: 'sms_body'; problem: 'empty' | 'nul' | 'too_long'; length: number }
  | { kind: 'refused'; reason: 'opted_out'; refusal: Refusal }
  | NoNumber

export type WelcomeOutcome =
  { kind: 'queued' } | { kind: 'already'; status: string } | { kind: 'refused'; reason: 'welcome_off' } | NoNumber

export type SavePhoneOutcome =
  | { kind: 'saved' }
  | { kind: 'invalid'; field: 'phone'; problem: TypedNumberProblem }
  /** Linked to another contact: the teammate may choose to move it here (`takeOver`). */
  | { kind: 'refused'; reason: 'linked_elsewhere'; phone: string; linkedTo: string }

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

/** The panel's number, when it may be texted. */
export async function textableNumber(deps: BridgeDeps, ctx: PanelContext): Promise<{ phone: string } | NoNumber> {
  const number = await numberOf(deps, ctx.contact)
  if (!number) return { kind: 'refused', reason: 'no_number' }
  if (!number.confirmed) return { kind: 'refused', reason: 'unconfirmed' }
  return { phone: number.phone }
}

export async function loadPanel(deps: BridgeDeps, contact: ContactFacts): Promise<PanelState> {
  const db = deps.store.db
  const number = await numberOf(deps, contact)
  const phone = number?.phone ?? null
  // This contact's own texts only: never everything ever exchanged with the number on the record,
  // which a lead can often set themselves.
  const messages = await recentMessagesOfContact(db, contact.id, 5)
  const welcome = await getAutomatedSend(db, sendKeys.welcome(contact.id))
  const consent = phone ? await consentOf(deps, phone, number?.confirmed === true, messages) : { state: 'ok' as const, since: null }
  // Shown once the number is confirmed and not opted out (an opt-out settles it anyway).
  const pending = phone && consent.state !== 'unconfirmed' && consent.state !== 'opted_out' ? await pendingRevocation(db, phone) : undefined
  return {
    phone,
    consent,
    messages,
    welcome: welcome ? { status: welcome.status, at: welcome.updated_at, reason: welcome.reason } : null,
    welcomeEnabled: Boolean(deps.config.welcome.template),
    mergeInto: (await mergeCandidates(deps, contact.id))[0] ?? null,
    revocation: pending ? { askedAt: pending.asked_at, honourBy: pending.honour_by } : null,
    scheduled: await openScheduledTexts(db, contact.id),
  }
}

/** The panel's consent line: the same rules the senders apply, a teammate's text, then an automated one. */
async function consentOf(deps: BridgeDeps, phone: string, confirmed: boolean, messages: Message[]): Promise<PanelConsent> {
  if (!confirmed) return { state: 'unconfirmed' }
  const refusal = await textingRefusal(deps, { phone, automated: false })
  const since = (await latestConsentEvent(deps.store.db, phone)) ?? null
  if (refusal) return { state: 'opted_out', refusal, since: since?.state === 'opted_out' ? since : null }
  if ((await textingRefusal(deps, { phone, automated: true }))?.code === 'consent_required') return { state: 'consent_required' }
  // "Can be texted" is not true of a number whose last text failed for what the number is.
  const lastOut = messages.find((m) => m.direction === 'outbound' && m.phone === phone)
  const failed = lastOut && (lastOut.status === 'failed' || lastOut.status === 'undelivered') ? lastOut.error_code : null
  return failed ? { state: 'last_failed', errorCode: failed } : { state: 'ok', since: since?.state === 'opted_in' ? since : null }
}

/** What is wrong with a text typed in the sidebar (trimmed), if anything. */
export function draftProblem(body: string): 'empty' | 'nul' | 'too_long' | null {
  return !body ? 'empty' : body.includes('\u0000') ? 'nul' : body.length > MAX_SMS_BODY ? 'too_long' : null
}

/** Why a text written in the sidebar may not go (the same for Preview, Send and Send later), else its number and words. */
export async function checkPanelText(
  deps: BridgeDeps,
  ctx: PanelContext,
  text: string,
): Promise<{ phone: string; body: string } | Exclude<SendOutcome, { kind: 'queued' }>> {
  const body = text.trim()
  const problem = draftProblem(body)
  if (problem) return { kind: 'invalid', field: 'sms_body', problem, length: body.length }
  const number = await textableNumber(deps, ctx)
  if (!('phone' in number)) return number
  const refusal = await textingRefusal(deps, { phone: number.phone, automated: false })
  if (refusal) return { kind: 'refused', reason: 'opted_out', refusal }
  return { phone: number.phone, body }
}

/**
 * "Send SMS" in the sidebar: validated, refused when the customer opted out, else stored and queued.
 * The conversation the panel is open in becomes the contact's SMS conversation.
 */
export async function sendFromPanel(deps: BridgeDeps, ctx: PanelContext, text: string): Promise<SendOutcome> {
  const checked = await checkPanelText(deps, ctx, text)
  if ('kind' in checked) return checked
  const { phone, body } = checked
  const existing = await findSmsConversation(deps.store.db, ctx.contact.id)
  const { from, recorded } = await chooseSender(deps, { phone, conversationNumber: existing?.twilio_number ?? null })
  const conversationId = ctx.conversationId ?? existing?.intercom_conversation_id ?? null
  const segments = segmentInfo(body)
  await deps.store.transaction(async (trx) => {
    const now = deps.clock.now()
    if (ctx.conversationId) {
      await runIn(
        trx,
        ...setSmsConversation(
          { contactId: ctx.contact.id, conversationId: ctx.conversationId, phone, twilioNumber: from ?? existing?.twilio_number ?? null },
          now,
        ),
      )
    }
    const id = await createOutboundMessage(trx, { conversationId, contactId: ctx.contact.id, phone, from: recorded, body }, now)
    await runIn(
      trx,
      enqueueTask(
        panelSendTask,
        { messageId: id, adminName: ctx.adminName },
        { key: panelSendTask.keys.panelSend(id), queueKey: queues.phone(phone) },
        now,
      ),
    )
  })
  return { kind: 'queued', segments }
}

/** "Send welcome SMS": the same once-only record and job as the automatic welcome. */
export async function welcomeFromPanel(deps: BridgeDeps, ctx: PanelContext): Promise<WelcomeOutcome> {
  if (!deps.config.welcome.template) return { kind: 'refused', reason: 'welcome_off' }
  const number = await textableNumber(deps, ctx)
  if (!('phone' in number)) return number
  const phone = number.phone
  const { created, send } = await deps.store.transaction((trx) =>
    requestAutomated(
      trx,
      {
        key: sendKeys.welcome(ctx.contact.id),
        kind: 'welcome',
        contactId: ctx.contact.id,
        phone,
        requestedBy: `admin:${ctx.adminId ?? 'unknown'}`,
      },
      deps.clock.now(),
    ),
  )
  return created ? { kind: 'queued' } : { kind: 'already', status: send.status }
}

/**
 * Saves a number typed in the sidebar: our link at once (texts from and to it thread here from now
 * on), the Intercom contact's phone by a job.
 */
export async function savePhone(
  deps: BridgeDeps,
  ctx: PanelContext,
  typed: string,
  options: { takeOver?: boolean } = {},
): Promise<SavePhoneOutcome> {
  const number = await readTypedNumber(typed, deps.config.defaultCountry)
  if ('problem' in number) return { kind: 'invalid', field: 'phone', problem: number.problem }
  const phone = number.phone
  // A number linked to another contact is not taken silently: the teammate is told, and chooses.
  const link = await findPhoneContact(deps.store.db, phone)
  if (link && link.intercom_contact_id !== ctx.contact.id && !options.takeOver) {
    return { kind: 'refused', reason: 'linked_elsewhere', phone, linkedTo: link.intercom_contact_id }
  }
  await deps.store.transaction(async (trx) => {
    const now = deps.clock.now()
    await runIn(trx, relinkPhone(phone, ctx.contact.id, 'teammate', now))
    await savePhoneLater(trx, { contactId: ctx.contact.id, phone, consent: false, conversationId: ctx.conversationId }, now)
    if (link && link.intercom_contact_id !== ctx.contact.id && ctx.conversationId) {
      const who = ctx.adminName ? escapeHtml(ctx.adminName) : 'A teammate'
      const html = `<p><b>${who} moved ${escapeHtml(formatForReading(phone))} to this contact</b> from contact ${escapeHtml(link.intercom_contact_id)}: texts from that number now thread here.</p>`
      await runIn(
        trx,
        enqueueTask(
          noteTask,
          { conversationId: ctx.conversationId, html },
          { key: noteTask.keys.relinkNote(phone, ctx.contact.id, now) },
          now,
        ),
      )
    }
  })
  return { kind: 'saved' }
}

/** Queues writing a number (and, from the Messenger card, consent) onto the Intercom contact. */
export async function savePhoneLater(trx: Tx, save: SavePhone, now: number): Promise<void> {
  await runIn(
    trx,
    enqueueTask(
      savePhoneTask,
      save,
      { key: savePhoneTask.keys.savePhone(save.contactId, save.phone, now), queueKey: queues.contact(save.contactId) },
      now,
    ),
  )
}

/**
 * Job: the number (and consent, when the visitor gave it) on the Intercom contact, with the bridge's
 * mark for it, so the link is found again should our records be lost.
 */
export async function savePhoneOnContact(deps: BridgeDeps, payload: SavePhone): Promise<void> {
  await deps.intercom.ensureContactAttribute(CONTACT_ATTRIBUTES.phoneMark)
  if (payload.consent) await deps.intercom.ensureContactAttribute(CONTACT_ATTRIBUTES.consent)
  // Merged in Intercom meanwhile: written on the survivor, with the mark for it.
  const contactId = await onLinkedContact(deps, payload.contactId, async (id) => {
    const attributes: Record<string, string | boolean> = {
      [MARK_ATTRIBUTE]: phoneMark(deps.config, id, payload.phone),
      ...(payload.consent ? { [CONSENT_ATTRIBUTE]: true } : {}),
    }
    await deps.intercom.updateContact(
      id,
      { phone: payload.phone, customAttributes: attributes },
      payload.consent ? 'save the phone number and consent' : 'save the phone number',
    )
    return id
  })
  await deps.store.run(setLinkMarked(payload.phone, contactId, deps.clock.now()))
}

/** The number could not be written onto the contact for good: the conversation says so (our link stands). */
export async function savePhoneGaveUp(trx: Tx, payload: SavePhone, job: Job, error: string): Promise<void> {
  if (!payload.conversationId) return
  const html =
    `<p><b>${escapeHtml(formatForReading(payload.phone))} could not be saved on the Intercom contact</b> (${escapeHtml(error.slice(0, 300))}).</p>` +
    `<p>Texts to and from it still thread here: the bridge keeps its own link.</p>`
  await runIn(
    trx,
    enqueueTask(noteTask, { conversationId: payload.conversationId, html }, { key: noteTask.keys.gaveUp(job.id) }, job.updated_at),
  )
}

/** Job: sends a text written in the sidebar, and notes it in the conversation for the team. */
export async function sendPanelMessage(deps: BridgeDeps, payload: z.output<typeof panelPayload>, ctx: JobContext): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message) return
  const sent = message.twilio_sid ? true : message.status === 'pending' ? await sendMessage(deps, message, ctx) : false
  if (!sent || !message.intercom_conversation_id) return
  await deps.store.run(
    enqueueTask(
      panelNoteTask,
      { messageId: message.id, adminName: payload.adminName },
      { key: panelNoteTask.keys.panelNote(message.id) },
      deps.clock.now(),
    ),
  )
}

/** Job: a note, so the conversation shows what the customer was texted from the sidebar. */
export async function notePanelMessage(deps: BridgeDeps, payload: z.output<typeof panelPayload>): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  if (!message?.intercom_conversation_id) return
  const who = payload.adminName ? ` by ${escapeHtml(payload.adminName)}` : ''
  await deps.intercom.addNote(
    message.intercom_conversation_id,
    `<p><b>Sent by SMS from the sidebar${who}</b> (Twilio MessageSid ${message.twilio_sid ?? 'pending'}):</p><p>${escapeHtml(message.body)}</p>`,
  )
}
