import { runIn } from '../../shared/db/statement.js'
import type { Intercom } from 'intercom-client'
import { z } from 'zod'
import type { Tx } from '../../shared/db/database.js'
import {
  attachAutomatedMessage,
  getAutomatedSend,
  insertAutomatedSendOnce,
  settleAutomatedSend,
  welcomeSentToPhone,
} from '../../shared/db/automated.js'
import { findSmsConversation, isContactCreatedByBridge } from '../../shared/db/contacts.js'
import { createOutboundMessage, getMessage, type OutboundText } from '../../shared/db/messages.js'
import type { AutomatedSend } from '../../shared/db/schema.js'
import { isTextableNumber, toE164 } from '../../shared/phone.js'
import { contactTimeZone, quietUntil } from '../../shared/quiet-hours.js'
import { MAX_SMS_BODY } from '../../shared/text.js'
import { UpstreamError } from '../../shared/errors.js'
import type { JobContext, TaskResult } from '../queue/worker.js'
import { textingRefusal, type Purpose, type Refusal } from './consent.js'
import { ensureSmsConversation } from './conversations.js'
import { broadcastOfSendKey, broadcastSendKey } from '../../shared/db/broadcasts.js'
import { consentEvent, INTERCOM_SUBSCRIPTION_SOURCE, latestConsentEvent } from '../../shared/db/consent.js'
import { budgetTaken, nextUtcDay, takeOutsiderBudget } from './caps.js'
import type { BridgeDeps } from './deps.js'
import { sendMessage } from './outbound.js'
import { chooseSender } from './senders.js'
import { escapeHtml } from '../../shared/text.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { numberTrust, UNTRUSTED_NUMBER } from './trust.js'
import { parseTemplateRef, renderSetting, renderTemplateRef, type Rendered } from './templates.js'
import { queues } from './keys.js'
import { planSendSlot, slotHeld, type SlotAnswer } from './pacing.js'
import { markPaced } from '../../shared/db/pacing.js'

/** Automated texts, once per key for ever (the automated_sends row's key, not a job's). */
export const sendKeys = {
  welcome: (contactId: string) => `welcome:${contactId}`,
  series: (stepId: string, contactId: string) => `series:${stepId}:${contactId}`,
  confirmation: (contactId: string, phone: string) => `confirm:${contactId}:${phone}`,
  broadcast: broadcastSendKey,
  /** A Workflow or Fin connector's run (server/bridge/connector-texts.ts `runKey`). */
  workflow: (runKey: string) => `workflow:${runKey}`,
}

/**
 * Who asked for a connector's text, and for which purpose, as `requested_by` keeps it
 * ("workflows:marketing", "fin:transactional"): the purpose decides which consent rules apply.
 */
export const connectorRequester = (connector: 'workflows' | 'fin', purpose: Purpose) => `${connector}:${purpose}`

/** Why an automated text is sent: a confirmation answers the person's own request; a welcome or a Series step markets. */
function purposeOf(send: Pick<AutomatedSend, 'kind' | 'requested_by'>): Purpose {
  if (send.kind === 'workflow') return send.requested_by?.endsWith(':transactional') ? 'transactional' : 'marketing'
  return send.kind === 'confirmation' ? 'transactional' : 'marketing'
}

const automatedPayload = z.object({ key: z.string().min(1) })

/** Sending one automated text, once per send key, in the contact's order. */
export const automatedSendTask = defineTask('automated.send', automatedPayload, {
  lane: 'automated',
  run: sendAutomated,
  keys: { send: (sendKey: string) => `auto:${sendKey}` },
})

/** The note of what an automated text became, once per send key. */
export const automatedNoteTask = defineTask('automated.note', automatedPayload, {
  lane: 'automated',
  run: noteAutomated,
  keys: { note: (sendKey: string) => `autonote:${sendKey}` },
})

export interface AutomatedRequest {
  key: string
  kind: AutomatedSend['kind']
  contactId: string
  phone?: string | null | undefined
  body?: string | null | undefined
  template?: string | null | undefined
  requestedBy: string
}

/**
 * Records an automated text and queues it, in the caller's transaction. The key makes it once-only
 * for ever: a second request with the same key (a redelivered webhook, a Series retry, a second
 * click) returns the first one and does nothing.
 */
export async function requestAutomated(trx: Tx, req: AutomatedRequest, now: number): Promise<{ created: boolean; send: AutomatedSend }> {
  const created = await insertAutomatedSendOnce(
    trx,
    {
      key: req.key,
      kind: req.kind,
      contactId: req.contactId,
      phone: req.phone ?? null,
      body: req.body ?? null,
      template: req.template ?? null,
      requestedBy: req.requestedBy,
    },
    now,
  )
  if (created) {
    await runIn(
      trx,
      enqueueTask(
        automatedSendTask,
        { key: req.key },
        { key: automatedSendTask.keys.send(req.key), queueKey: queues.contact(req.contactId) },
        now,
      ),
    )
  }
  return { created, send: (await getAutomatedSend(trx, req.key))! }
}

/** An SMS step of an Intercom Series: once per (step, contact), for ever. */
export function requestSeriesText(
  deps: Pick<BridgeDeps, 'store' | 'clock'>,
  step: { stepId: string; contactId: string; phone: string | null; body: string | null; template: string | null },
): Promise<{ created: boolean; send: AutomatedSend }> {
  return deps.store.transaction((trx) =>
    requestAutomated(
      trx,
      {
        key: sendKeys.series(step.stepId, step.contactId),
        kind: 'series',
        contactId: step.contactId,
        phone: step.phone,
        body: step.body,
        template: step.template,
        requestedBy: 'series',
      },
      deps.clock.now(),
    ),
  )
}

async function settle(deps: BridgeDeps, key: string, update: { status: 'sent' | 'skipped'; reason?: string; phone?: string | null }) {
  await deps.store.run(
    settleAutomatedSend(key, update),
    enqueueTask(automatedNoteTask, { key }, { key: automatedNoteTask.keys.note(key) }, deps.clock.now()),
  )
}

/** Why an automated text may not go to the contact (`skip.reason` words it for the team). */
export type TargetRefusal =
  'no_number' | 'untrusted_number' | 'already_wrote' | 'already_welcomed' | 'subscriptions_unreadable' | Refusal['code']

export type Target = { phone: string } | { skip: { code: TargetRefusal; reason: string; phone?: string } }

/**
 * The number an automated text may go to, or why none: a valid mobile number the bridge trusts for
 * this contact (never a lead's own claim), the welcome's once-only rules, and consent. The one check,
 * for the worker and for a connector's synchronous answer.
 */
export async function automatedTarget(
  deps: BridgeDeps,
  send: Pick<AutomatedSend, 'kind' | 'phone' | 'intercom_contact_id' | 'requested_by'>,
  c: Intercom.Contact,
  purpose: Purpose = purposeOf(send),
): Promise<Target> {
  const db = deps.store.db
  const phone = toE164(send.phone ?? c.phone ?? '', deps.config.defaultCountry)
  if (!phone || !(await isTextableNumber(phone))) return { skip: { code: 'no_number', reason: 'The contact has no valid mobile number.' } }
  const contact = { id: send.intercom_contact_id, role: c.role, phone: c.phone, custom_attributes: c.custom_attributes }
  if (!(await numberTrust(deps, contact, phone))) return { skip: { code: 'untrusted_number', phone, reason: UNTRUSTED_NUMBER } }
  if (send.kind === 'welcome') {
    if (!deps.config.welcome.includeBridgeContacts && (await isContactCreatedByBridge(db, send.intercom_contact_id))) {
      return { skip: { code: 'already_wrote', phone, reason: 'The contact was created from their own text: they already wrote to us.' } }
    }
    // Merged or re-created contacts keep their number: one welcome per number as well as per contact.
    if (await welcomeSentToPhone(db, phone))
      return { skip: { code: 'already_welcomed', phone, reason: 'This number was already sent the welcome text.' } }
  }
  const unsubscribedFrom = await subscriptionRefusal(deps, c.id)
  if (typeof unsubscribedFrom === 'string') return { skip: { code: 'subscriptions_unreadable', phone, reason: unsubscribedFrom } }
  await ledgerSubscription(deps, { phone, contactId: c.id, unsubscribedFrom })
  const refusal = await textingRefusal(deps, { phone, automated: true, purpose, contact: c, unsubscribedFrom })
  return refusal ? { skip: { code: refusal.code, phone, reason: refusal.sentence } } : { phone }
}

/** When quiet hours (QUIET_HOURS, in the contact's time zone) end, if they hold a text back now; else null. */
export function quietUntilFor(deps: Pick<BridgeDeps, 'config'>, c: Pick<Intercom.Contact, 'location'>, now: number): number | null {
  if (!deps.config.quietHours) return null
  const zone = contactTimeZone(c.location?.country ?? null, deps.config.quietHours.timeZone)
  return quietUntil(now, deps.config.quietHours.window, zone)
}

/**
 * The SMS subscription type the contact is unsubscribed from, read before each send (a teammate may
 * have unsubscribed them in Intercom's UI a minute ago), or why it could not be read: a refusal
 * (not a passing failure, which is retried) skips the text rather than guess.
 */
async function subscriptionRefusal(deps: BridgeDeps, contactId: string): Promise<{ name: string } | null | string> {
  try {
    return await deps.intercom.smsUnsubscribed(contactId)
  } catch (err) {
    if (!(err instanceof UpstreamError && err.outcome === 'give_up')) throw err
    return `Intercom did not show the contact's SMS subscriptions (${err.message}), so the automated text is not sent.`
  }
}

/**
 * A teammate's change of the contact's SMS subscription in Intercom, as this read first sees it, goes
 * in the consent ledger (source `intercom:subscription`, the type's name as its text): the bridge does
 * not decide it, but it decides which automated texts go, so the ledger must show it.
 */
async function ledgerSubscription(
  deps: BridgeDeps,
  seen: { phone: string; contactId: string; unsubscribedFrom: { name: string } | null },
): Promise<void> {
  const state = seen.unsubscribedFrom ? 'opted_out' : 'opted_in'
  const last = await latestConsentEvent(deps.store.db, seen.phone, 'intercom')
  // Nothing to record until Intercom first says unsubscribed; then each change once.
  if ((last?.state ?? 'opted_in') === state) return
  const evidence = { text: seen.unsubscribedFrom?.name ?? null, contactId: seen.contactId, actor: 'Intercom' }
  await deps.store.run(consentEvent(seen.phone, { state, source: INTERCOM_SUBSCRIPTION_SOURCE, evidence }, deps.clock.now()))
}

/**
 * What the text is for: a confirmation answers the person's own request; a welcome or a Series step
 * markets; a broadcast says (null when it was cancelled before its text went).
 */
async function purposeNow(deps: BridgeDeps, send: AutomatedSend): Promise<Purpose | null> {
  if (send.kind !== 'broadcast') return purposeOf(send)
  const broadcast = await broadcastOfSendKey(deps.store.db, send.key)
  return broadcast && broadcast.state !== 'cancelled' ? broadcast.purpose : null
}

/** Job: sends one automated text, or records why it may not be sent. Quiet hours hold it back. */
export async function sendAutomated(deps: BridgeDeps, payload: { key: string }, ctx: JobContext): Promise<void | TaskResult> {
  const db = deps.store.db
  const send = await getAutomatedSend(db, payload.key)
  if (!send || send.status !== 'queued') return

  // Sending already began (a retry after a crash): finish that text, never start a second one.
  if (send.message_id) return finish(deps, send, ctx)
  const purpose = await purposeNow(deps, send)
  if (!purpose) return settle(deps, send.key, { status: 'skipped', reason: 'The broadcast was cancelled.' })

  const c = await deps.intercom.findContact(send.intercom_contact_id)
  if (!c) return settle(deps, send.key, { status: 'skipped', reason: 'The contact no longer exists in Intercom.' })
  const target = await automatedTarget(deps, send, c, purpose)
  if ('skip' in target) return settle(deps, send.key, { status: 'skipped', reason: target.skip.reason, phone: target.skip.phone })
  const { phone } = target

  const quiet = quietHoursHold(deps, c, ctx)
  if (quiet) return quiet

  const words = await wordsOf(deps, send, c)
  if (!words.ok) return settle(deps, send.key, { status: 'skipped', phone, reason: notRendered(words.reason, send) })
  const body = words.body.slice(0, MAX_SMS_BODY)

  // A text the team or its automations start (a Workflow, Fin, a broadcast) is recorded in the
  // contact's SMS conversation, opened if need be, so a reply threads where the team expects it.
  if (send.kind === 'workflow' || send.kind === 'broadcast')
    await ensureSmsConversation(deps, { contactId: send.intercom_contact_id, phone, firstText: body })
  const conversation = await findSmsConversation(db, send.intercom_contact_id)
  const { recorded } = await chooseSender(deps, { phone, conversationNumber: conversation?.twilio_number ?? null })
  // A broadcast's recipient took its slot when it was handed over (broadcast.ts): counted, not paced again.
  const paced = send.kind === 'confirmation' || send.kind === 'broadcast' ? null : recorded
  const mark =
    send.kind === 'confirmation' || !recorded
      ? null
      : { sender: recorded, lane: send.kind === 'broadcast' ? ('bulk' as const) : ('automated' as const) }
  const outsider = outsiderKind(send)
  const now = deps.clock.now()
  const written = await writeAutomated(deps, {
    key: send.key,
    outsider,
    paced,
    mark,
    message: {
      conversationId: conversation?.intercom_conversation_id ?? null,
      contactId: send.intercom_contact_id,
      phone,
      from: recorded,
      body,
    },
    now,
  })
  if (written.held) return senderHeld(deps, written.held, ctx)
  if (written.taken) budgetTaken(deps, { kind: outsider!, phone, taken: written.taken, now })
  const capped = written.taken?.refusal
  if (capped?.reason === 'daily_cap') {
    // Strangers can spend the day budget; the lead they crowded out still gets the text, tomorrow.
    const until = nextUtcDay(now)
    ctx.log.info({ until: new Date(until).toISOString() }, 'automated text held until the day budget starts again')
    return { runAgainAt: until }
  }
  // A country never changes; a number's or contact's cap is spent only by texts to that very number
  // or contact today, so holding would only put off what the cap is there to stop.
  if (capped) return settle(deps, send.key, { status: 'skipped', phone, reason: capped.sentence })
  return finish(deps, { ...send, phone, message_id: written.id! }, ctx)
}

/**
 * The outsider budget an automated text comes out of (countries, per number and contact, the
 * welcomes' day budget), or null. Welcomes and confirmations are caused by whoever created the
 * contact or typed the number; a Workflow's or Fin's text by whoever started the conversation it runs
 * in (Fin's by what a customer asked for): each costs the team money. Series steps are the team's
 * own campaigns and teammates' texts are never capped.
 */
function outsiderKind(send: AutomatedSend): 'welcome' | 'confirmation' | null {
  if (send.kind === 'welcome' || send.kind === 'confirmation') return send.kind
  return send.kind === 'workflow' ? 'confirmation' : null
}

/**
 * The words of an automated text, rendered now: its own, a Series step's template (a name in
 * SMS_TEMPLATES or `macro:<id>`), or the welcome's setting (the words or `macro:<id>`).
 */
function wordsOf(deps: BridgeDeps, send: AutomatedSend, c: Intercom.Contact): Promise<Rendered> | Rendered {
  if (send.body !== null) return send.body ? { ok: true, body: send.body } : { ok: false, reason: 'empty' }
  if (send.template !== null) return renderTemplateRef(deps, parseTemplateRef(send.template), c)
  if (send.kind === 'welcome') return renderSetting(deps, deps.config.welcome.template, c)
  return { ok: false, reason: 'empty' }
}

/** Why an automated text had no words, as the skipped send's reason. */
function notRendered(reason: Exclude<Rendered, { ok: true }>['reason'], send: AutomatedSend): string {
  if (reason === 'unknown_template') return `The template "${send.template}" is not in SMS_TEMPLATES any more.`
  if (reason === 'macro_unavailable')
    return "The Intercom macro it names was deleted, or is not visible to the access token's admin any more."
  return 'The text is empty.'
}

/**
 * The text's row, in one transaction with its sender's slot and the outsider budget it spends. A text
 * held for its slot takes no budget; a text the budget refuses leaves the slot (and the day's count)
 * to the next text.
 */
async function writeAutomated(
  deps: BridgeDeps,
  w: {
    key: string
    outsider: 'welcome' | 'confirmation' | null
    paced: string | null
    /** The sender and lane the spike detector counts the text under (pacing.ts), or null. */
    mark: { sender: string; lane: 'automated' | 'bulk' } | null
    message: OutboundText & { contactId: string; part?: undefined }
    now: number
  },
) {
  const { now, message } = w
  return deps.store.transaction(async (trx) => {
    const slot = w.paced ? await planSendSlot(trx, deps.config, w.paced, now) : null
    if (slot && !slot.answer.go) {
      await runIn(trx, ...slot.save) // the promise: the next text held waits behind this one
      return { held: slot.answer, taken: null, id: null }
    }
    const taken = w.outsider
      ? await takeOutsiderBudget(trx, deps.config, { kind: w.outsider, phone: message.phone, contactId: message.contactId }, now)
      : null
    if (taken?.refusal) return { held: null, taken, id: null }
    if (slot) await runIn(trx, ...slot.save)
    const id = await createOutboundMessage(trx, message, now)
    await runIn(trx, attachAutomatedMessage(w.key, { messageId: id, phone: message.phone }, now))
    if (w.mark) await runIn(trx, ...markPaced({ messageId: id, ...w.mark }, now))
    return { held: null, taken, id }
  })
}

/** Quiet hours in the contact's time zone: when the text may go, or null when it may go now. */
function quietHoursHold(deps: BridgeDeps, c: Intercom.Contact, ctx: JobContext): TaskResult | null {
  const until = quietUntilFor(deps, c, deps.clock.now())
  if (!until) return null
  ctx.log.info({ until: new Date(until).toISOString() }, 'automated text held until quiet hours end')
  return { runAgainAt: until }
}

/**
 * The sender's pace (pacing.ts): the job waits for its slot, the next carrier day or a resume, and
 * runs once then. A confirmation is not paced: the person who asked for it is waiting, as for a code.
 */
function senderHeld(deps: BridgeDeps, slot: SlotAnswer & { go: false }, ctx: JobContext): TaskResult {
  slotHeld(deps, 'automated', slot)
  ctx.log.info({ until: new Date(slot.at).toISOString(), why: slot.why }, "automated text held for its sender's pace")
  return { runAgainAt: slot.at }
}

async function finish(deps: BridgeDeps, send: AutomatedSend, ctx: JobContext): Promise<void> {
  const message = await getMessage(deps.store.db, send.message_id!)
  if (!message) return
  if (!message.twilio_sid && message.status === 'pending') await sendMessage(deps, message, ctx, { notifyFailure: false })
  const after = await getMessage(deps.store.db, message.id)
  const sent = Boolean(after?.twilio_sid)
  await settle(
    deps,
    send.key,
    sent ? { status: 'sent' } : { status: 'skipped', reason: after?.error_message ?? 'Twilio did not accept the text.' },
  )
}

const KIND_NAMES = {
  welcome: 'Welcome text',
  series: 'Series text',
  confirmation: 'Confirmation text',
  workflow: 'Workflow text',
  broadcast: 'Broadcast text',
} as const

const kindName = (send: AutomatedSend) =>
  send.kind === 'workflow' && send.requested_by?.startsWith('fin:') ? 'Fin text' : KIND_NAMES[send.kind]

/** Job: shows in the contact's SMS conversation what was sent, or why not. Notes never reach the customer. */
export async function noteAutomated(deps: BridgeDeps, payload: { key: string }): Promise<void> {
  const send = await getAutomatedSend(deps.store.db, payload.key)
  if (!send) return
  const conversation = await findSmsConversation(deps.store.db, send.intercom_contact_id)
  if (!conversation) return // no conversation to note: the record (and the sidebar) keep it
  const message = send.message_id ? await getMessage(deps.store.db, send.message_id) : undefined
  const html =
    send.status === 'sent' && message
      ? `<p><b>${kindName(send)} sent by SMS</b> (Twilio MessageSid ${message.twilio_sid}):</p><p>${escapeHtml(message.body)}</p>`
      : `<p><b>${kindName(send)} not sent:</b> ${escapeHtml(send.reason ?? 'unknown reason')}</p>`
  await deps.intercom.addNote(conversation.intercom_conversation_id, html)
}
