import { z } from 'zod'
import type { Intercom } from 'intercom-client'
import { runIn } from '../../shared/db/statement.js'
import { findSmsConversation } from '../../shared/db/contacts.js'
import { createOutboundMessage, recentMessagesOfContact } from '../../shared/db/messages.js'
import {
  getScheduledText,
  heldAt,
  holdScheduledTexts,
  insertScheduledText,
  moveScheduledText,
  openScheduledTexts,
  OPEN_STATES,
  type NewScheduledText,
} from '../../shared/db/scheduled.js'
import type { ScheduledText } from '../../shared/db/schema.js'
import type { Statement } from '../../shared/db/statement.js'
import { quietUntil } from '../../shared/quiet-hours.js'
import { nextBusinessMorning, parseChosenTime, tomorrowAt, zoneOfPlace, type OfficeHours } from '../../shared/send-later.js'
import { UpstreamError } from '../../shared/errors.js'
import { escapeHtml } from '../../shared/text.js'
import type { JobContext, TaskResult } from '../queue/worker.js'
import { defineTask, enqueueTask, enqueueTaskAfterChange } from '../queue/task.js'
import { textingRefusal, type Refusal } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { queues } from './keys.js'
import { checkPanelText, numberOf, panelSendTask, type PanelContext } from './sidebar.js'
import { chooseSender } from './senders.js'

/**
 * Send later, in the customer's time. A scheduled text waits in the bridge's own durable queue (a
 * `scheduled_texts` row and a job run at its time), not in Twilio's scheduling (ScheduleType=fixed):
 * Twilio's needs a Messaging Service, takes only 15 minutes (5 by some docs) to 35 days ahead, and
 * once handed over the text goes whatever happens meanwhile. Ours is checked again when it goes
 * (consent, quiet hours, the number, whether the customer wrote first), is cancelled with one local
 * write, survives restarts like every job, and goes through the same send path as the sidebar's
 * "Send" (createOutboundMessage + panelSendTask -> sendMessage), so it is sent once.
 */

const idPayload = z.object({ id: z.number().int().positive() })
const noteEvent = z.enum(['scheduled', 'cancelled', 'skipped', 'held', 'released'])
type NoteEvent = z.output<typeof noteEvent>

/** Sending one scheduled text at its time (run_at = send_at), once per scheduled text. Lane: automated. */
export const scheduledSendTask = defineTask('scheduled.send', idPayload, {
  // A teammate's text, but nobody waits for it at its minute: after replies and inbound deliveries.
  lane: 'automated',
  run: sendScheduled,
  keys: { send: (id: number) => `scheduled:${id}` },
})

/** The note of what happened to a scheduled text, once per text and event. Lane: automated. */
export const scheduledNoteTask = defineTask('scheduled.note', z.object({ id: z.number().int().positive(), event: noteEvent }), {
  lane: 'automated',
  run: noteScheduled,
  keys: { note: (id: number, event: NoteEvent, at: number) => `schednote:${id}:${event}:${at}` },
})

/** The customer wrote first: a note for each text held by their text (`held_at` = `at`). Lane: inbound. */
export const scheduledHeldTask = defineTask('scheduled.held', z.object({ phone: z.string().min(1), at: z.number().int() }), {
  // Part of the customer's text arriving: the teammate should see it with the text.
  lane: 'inbound',
  run: noteHeld,
  keys: { held: (phone: string, at: number) => `schedheld:${phone}:${at}` },
})

export type ScheduleChoice = { kind: 'tomorrow' } | { kind: 'business_morning' } | { kind: 'chosen'; text: string }

export type ScheduleOutcome =
  | { kind: 'scheduled'; sendAt: number; zone: string }
  | { kind: 'invalid'; field: 'sms_body'; problem: 'empty' | 'nul' | 'too_long'; length: number }
  | { kind: 'invalid'; field: 'send_at'; problem: 'format' | 'no_such_time' | 'past' | 'too_far' }
  | { kind: 'refused'; reason: 'opted_out'; refusal: Refusal }
  | { kind: 'refused'; reason: 'no_number' | 'unconfirmed' }

export type ScheduledChangeOutcome = { kind: 'cancelled' | 'released'; count: number } | { kind: 'nothing_chosen' }

/** The customer's zone and the workspace's office hours, as the schedule screen offers them. */
export interface ScheduleTimes {
  zone: string
  tomorrow: number
  businessMorning: number | null
}

/** The customer's time zone, from their Intercom location; the quiet hours' zone (else UTC) when unknown or unreadable. */
async function zoneOf(deps: BridgeDeps, contactId: string): Promise<string> {
  const fallback = deps.config.quietHours?.timeZone ?? 'UTC'
  let contact: Intercom.Contact | null
  try {
    contact = await deps.intercom.findContact(contactId)
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    return fallback
  }
  return zoneOfPlace(contact?.location ?? null, fallback)
}

/** The workspace's first office hours schedule; none (Monday to Friday at 9:00) when Intercom does not answer. */
async function officeHours(deps: BridgeDeps): Promise<OfficeHours | null> {
  try {
    const s = await deps.intercom.officeHours(deps.clock.now())
    return s ? { twentyFourSeven: s.twenty_four_seven === true, intervals: s.time_intervals ?? [] } : null
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    return null
  }
}

/** The times the schedule screen offers, on the customer's clock. */
export async function scheduleTimes(deps: BridgeDeps, contactId: string): Promise<ScheduleTimes> {
  const now = deps.clock.now()
  const zone = await zoneOf(deps, contactId)
  return { zone, tomorrow: tomorrowAt(now, zone), businessMorning: nextBusinessMorning(now, zone, await officeHours(deps)) }
}

/** When a choice sends, or why it cannot. */
async function sendTime(
  deps: BridgeDeps,
  contactId: string,
  choice: ScheduleChoice,
): Promise<{ at: number; zone: string } | Extract<ScheduleOutcome, { field: 'send_at' }>> {
  const times = await scheduleTimes(deps, contactId)
  if (choice.kind === 'tomorrow') return { at: times.tomorrow, zone: times.zone }
  if (choice.kind === 'business_morning') return { at: times.businessMorning ?? times.tomorrow, zone: times.zone }
  const chosen = parseChosenTime(choice.text, deps.clock.now(), times.zone)
  return chosen.ok ? { at: chosen.at, zone: times.zone } : { kind: 'invalid', field: 'send_at', problem: chosen.problem }
}

/** "Send later" in the sidebar: the text checked as "Send" checks it, stored, its job queued for its time, a note queued. */
export async function scheduleFromPanel(
  deps: BridgeDeps,
  ctx: PanelContext,
  text: string,
  choice: ScheduleChoice,
): Promise<ScheduleOutcome> {
  // The same checks as Send and Preview: the words, the number, consent.
  const checked = await checkPanelText(deps, ctx, text)
  if ('kind' in checked) return checked
  const { phone, body } = checked
  const when = await sendTime(deps, ctx.contact.id, choice)
  if ('kind' in when) return when
  const row: NewScheduledText = {
    contactId: ctx.contact.id,
    conversationId: ctx.conversationId ?? (await findSmsConversation(deps.store.db, ctx.contact.id))?.intercom_conversation_id ?? null,
    phone,
    body,
    sendAt: when.at,
    timeZone: when.zone,
    choice: choice.kind,
    adminId: ctx.adminId,
    adminName: ctx.adminName,
  }
  await deps.store.transaction(async (trx) => {
    const now = deps.clock.now()
    const id = await insertScheduledText(trx, row, now)
    await runIn(
      trx,
      enqueueTask(scheduledSendTask, { id }, { key: scheduledSendTask.keys.send(id), runAt: when.at }, now),
      noteLater(id, 'scheduled', now),
    )
  })
  return { kind: 'scheduled', sendAt: when.at, zone: when.zone }
}

const noteLater = (id: number, event: NoteEvent, now: number): Statement =>
  enqueueTask(scheduledNoteTask, { id, event }, { key: scheduledNoteTask.keys.note(id, event, now) }, now)

/** The chosen scheduled texts that are this contact's (a submit names ids; only theirs count). */
async function chosenOf(deps: BridgeDeps, ctx: PanelContext, ids: number[]): Promise<ScheduledText[]> {
  const open = await openScheduledTexts(deps.store.db, ctx.contact.id)
  return open.filter((t) => ids.includes(t.id))
}

/** "Cancel": each chosen text still waiting is cancelled (a text already gone stays gone), with a note. */
export async function cancelScheduled(deps: BridgeDeps, ctx: PanelContext, ids: number[]): Promise<ScheduledChangeOutcome> {
  const chosen = await chosenOf(deps, ctx, ids)
  if (chosen.length === 0) return { kind: 'nothing_chosen' }
  const now = deps.clock.now()
  const reason = `cancelled_by:${ctx.adminId ?? 'unknown'}`
  const results = await deps.store.run(
    ...chosen.flatMap((t) => [
      moveScheduledText(t.id, OPEN_STATES, { state: 'cancelled', reason }, now),
      enqueueTaskAfterChange(
        scheduledNoteTask,
        { id: t.id, event: 'cancelled' },
        { key: scheduledNoteTask.keys.note(t.id, 'cancelled', now) },
        now,
      ),
    ]),
  )
  return { kind: 'cancelled', count: results.filter((r, i) => i % 2 === 0 && r.numAffectedRows === 1n).length }
}

/**
 * "Send anyway" for texts held because the customer wrote first: back to scheduled, sent at their
 * time (now, when that has passed), checked again like any scheduled text.
 */
export async function releaseScheduled(deps: BridgeDeps, ctx: PanelContext, ids: number[]): Promise<ScheduledChangeOutcome> {
  const held = (await chosenOf(deps, ctx, ids)).filter((t) => t.state === 'held')
  if (held.length === 0) return { kind: 'nothing_chosen' }
  const now = deps.clock.now()
  const results = await deps.store.run(
    ...held.flatMap((t) => [
      moveScheduledText(t.id, ['held'], { state: 'scheduled', reason: `released_by:${ctx.adminId ?? 'unknown'}` }, now),
      enqueueTaskAfterChange(
        scheduledNoteTask,
        { id: t.id, event: 'released' },
        { key: scheduledNoteTask.keys.note(t.id, 'released', now) },
        now,
      ),
      // Its job may have run (and found it held) already: a new one, keyed apart, when it has.
      enqueueTask(
        scheduledSendTask,
        { id: t.id },
        { key: `${scheduledSendTask.keys.send(t.id)}:${now}`, runAt: Math.max(now, t.send_at) },
        now,
      ),
    ]),
  )
  return { kind: 'released', count: results.filter((r, i) => i % 3 === 0 && r.numAffectedRows === 1n).length }
}

/**
 * The customer wrote first: their text's arrival holds every text scheduled to their number before
 * it, and queues one note job asking the team. Run with the inbound text's insert (inbound.ts).
 */
export function holdOnInbound(phone: string, now: number): Statement[] {
  return [
    holdScheduledTexts(phone, now),
    enqueueTaskAfterChange(scheduledHeldTask, { phone, at: now }, { key: scheduledHeldTask.keys.held(phone, now) }, now),
  ]
}

/** Job: one note per text the customer's text held. */
export async function noteHeld(deps: BridgeDeps, payload: { phone: string; at: number }): Promise<void> {
  const held = await heldAt(deps.store.db, payload.phone, payload.at)
  if (held.length === 0) return
  await deps.store.run(...held.map((t) => noteLater(t.id, 'held', payload.at)))
}

/** Twilio errors that say the number itself cannot take texts: a scheduled text to it is skipped. */
const NUMBER_FAILURES = new Set([21211, 21614, 30005, 30006])

/** Why a scheduled text may not go now, as a reason code, or null. Consent is read as "Send" reads it. */
async function skipReason(deps: BridgeDeps, t: ScheduledText): Promise<{ reason: string; sentence?: string } | null> {
  const number = await numberOf(deps, { id: t.intercom_contact_id, role: null, phone: null, custom_attributes: null })
  if (number?.phone !== t.phone) return { reason: 'number_changed' }
  const refusal = await textingRefusal(deps, { phone: t.phone, automated: false })
  if (refusal) return { reason: refusal.code, sentence: refusal.sentence }
  const last = (await recentMessagesOfContact(deps.store.db, t.intercom_contact_id, 5)).find(
    (m) => m.direction === 'outbound' && m.phone === t.phone,
  )
  if (last && ['failed', 'undelivered'].includes(last.status) && NUMBER_FAILURES.has(last.error_code ?? 0)) {
    return { reason: `last_failed:${last.error_code}` }
  }
  return null
}

/**
 * Job: at its time, a scheduled text is checked again and handed to the sidebar's send path, or
 * skipped with the reason; quiet hours (the customer's) put it off until they end. Exactly once: the
 * outbound text and the move to `sent` are one transaction, so a retry after it finds `sent` and
 * leaves the rest to panelSendTask (whose sendMessage looks in Twilio's log before a late send).
 */
export async function sendScheduled(deps: BridgeDeps, payload: { id: number }, ctx: JobContext): Promise<void | TaskResult> {
  const t = await getScheduledText(deps.store.db, payload.id)
  if (!t || t.state !== 'scheduled') return // sent, held, cancelled, skipped, or erased
  const skip = await skipReason(deps, t)
  const now = deps.clock.now()
  if (skip) {
    await deps.store.run(
      moveScheduledText(t.id, ['scheduled'], { state: 'skipped', reason: skip.reason }, now),
      enqueueTaskAfterChange(
        scheduledNoteTask,
        { id: t.id, event: 'skipped' },
        { key: scheduledNoteTask.keys.note(t.id, 'skipped', now) },
        now,
      ),
    )
    return
  }
  const until = deps.config.quietHours ? quietUntil(now, deps.config.quietHours.window, t.time_zone) : null
  if (until) {
    ctx.log.info({ until: new Date(until).toISOString(), zone: t.time_zone }, 'scheduled text held until quiet hours end')
    return { runAgainAt: until }
  }
  await handOver(deps, t, now)
}

/** The outbound text, the move to `sent` and the send job, in one transaction (nothing when it moved meanwhile). */
async function handOver(deps: BridgeDeps, t: ScheduledText, now: number): Promise<void> {
  const conversation = await findSmsConversation(deps.store.db, t.intercom_contact_id)
  const { recorded } = await chooseSender(deps, { phone: t.phone, conversationNumber: conversation?.twilio_number ?? null })
  await deps.store.transaction(async (trx) => {
    if ((await getScheduledText(trx, t.id))?.state !== 'scheduled') return
    // Dated when it was due: a send replayed long after (a restored backup) makes sendMessage look in
    // Twilio's log first, and find the text that already went.
    const messageId = await createOutboundMessage(
      trx,
      {
        conversationId: t.intercom_conversation_id ?? conversation?.intercom_conversation_id ?? null,
        contactId: t.intercom_contact_id,
        phone: t.phone,
        from: recorded,
        body: t.body,
      },
      Math.min(t.send_at, now),
    )
    await runIn(
      trx,
      moveScheduledText(t.id, ['scheduled'], { state: 'sent', reason: null, messageId }, now),
      enqueueTask(
        panelSendTask,
        { messageId, adminName: t.admin_name },
        { key: panelSendTask.keys.panelSend(messageId), queueKey: queues.phone(t.phone) },
        now,
      ),
    )
  })
}

const when = (at: number, zone: string) =>
  `${new Intl.DateTimeFormat('en-GB', { timeZone: zone, dateStyle: 'medium', timeStyle: 'short' }).format(at)} ${zone}`

/** What each event says in the conversation. Notes never reach the customer. */
function noteHtml(t: ScheduledText, event: NoteEvent): string {
  const who = t.admin_name ? escapeHtml(t.admin_name) : 'A teammate'
  const time = `${escapeHtml(when(t.send_at, t.time_zone))} (${new Date(t.send_at).toISOString().slice(0, 16).replace('T', ' ')} UTC)`
  const words = `<p>${escapeHtml(t.body)}</p>`
  switch (event) {
    case 'scheduled':
      return `<p><b>${who} scheduled a text</b> for ${time}, the customer's time:</p>${words}`
    case 'cancelled':
      return `<p><b>Scheduled text cancelled</b> (it was due ${time}):</p>${words}`
    case 'released':
      return `<p><b>Scheduled text will be sent anyway</b>, at ${time} or now if that has passed:</p>${words}`
    case 'held':
      return `<p><b>The customer wrote before a scheduled text went.</b> It is held: choose <i>Send anyway</i> or <i>Cancel</i> in the SMS panel.</p>${words}`
    case 'skipped':
      return `<p><b>Scheduled text not sent</b> (${escapeHtml(skipWords(t.reason))}):</p>${words}`
  }
}

function skipWords(reason: string | null): string {
  if (reason === 'number_changed') return "the contact's SMS number changed since it was scheduled"
  if (reason === 'opted_out' || reason === 'unsubscribed') return 'the customer opted out of texts'
  if (reason === 'consent_required') return 'the customer has not agreed to texts'
  if (reason?.startsWith('last_failed:'))
    return `the last text to this number failed (Twilio error ${reason.slice(12)}) and the next would too`
  return reason ?? 'unknown reason'
}

/** Job: the note of a scheduled text's event, in its conversation (or the contact's SMS conversation). */
export async function noteScheduled(deps: BridgeDeps, payload: { id: number; event: NoteEvent }): Promise<void> {
  const t = await getScheduledText(deps.store.db, payload.id)
  if (!t) return
  const conversationId =
    t.intercom_conversation_id ?? (await findSmsConversation(deps.store.db, t.intercom_contact_id))?.intercom_conversation_id
  if (!conversationId) return
  await deps.intercom.addNote(conversationId, noteHtml(t, payload.event))
}
