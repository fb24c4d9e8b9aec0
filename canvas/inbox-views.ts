import type { ConsentEvent, Message } from '../shared/db/schema.js'
import { formatForReading } from '../shared/phone.js'
import type { SegmentInfo } from '../shared/text.js'
import { MAX_SMS_BODY } from '../shared/text.js'
import { nextTextOutlook } from '../shared/twilio-errors.js'
import type { MergeOutcome } from '../server/bridge/links.js'
import type { RevocationOutcome } from '../server/bridge/revocations.js'
import type { PanelConsent, PanelState, SavePhoneOutcome, SendOutcome, WelcomeOutcome } from '../server/bridge/sidebar.js'
import type { CanvasResponse, Component } from './schema.js'
import { canvas, plainText } from './views.js'
import { scheduledSection, sendLaterButton } from './schedule-views.js'

/** What a button's outcome adds to the panel: a sentence in its place, the draft kept, a number to move. */
export interface PanelFlash {
  error?: string
  notice?: string
  draft?: string
  phoneError?: string
  /** A number linked to another contact the teammate may choose to move here. */
  takeOver?: string
}

const STATUS_WORDS: Record<string, string> = {
  pending: 'Sending',
  accepted: 'Queued',
  queued: 'Queued',
  scheduled: 'Scheduled',
  sending: 'Sending',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  undelivered: 'Not delivered',
  failed: 'Failed',
  canceled: 'Canceled',
  refused: 'Not sent',
  received: 'Received',
  delivered_to_intercom: 'Received',
}

const when = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
const firstWords = (text: string) => {
  const t = text.replace(/\s+/g, ' ').trim() || '(picture)'
  return t.length > 40 ? `${t.slice(0, 39)}…` : t
}

/** What a text cost: Twilio bills each segment as a text; only said when it is more than one. */
const segmentsOf = (m: Message) => (m.num_segments && m.num_segments > 1 ? ` · ${m.num_segments} segments` : '')

/**
 * Which channel carried a text to the customer, when it was not plain SMS: RCS, or the SMS a
 * Messaging Service sent in its place when RCS could not deliver it.
 */
export function channelWords(m: Pick<Message, 'direction' | 'channel' | 'fallback_sid'>): string {
  if (m.direction !== 'outbound') return ''
  if (m.fallback_sid) return ' · fell back to SMS'
  return m.channel === 'rcs' ? ' by RCS' : ''
}

function messageItem(m: Message): { type: 'item'; id: string; title: string; subtitle?: string; tertiary_text?: string } {
  const arrow = m.direction === 'inbound' ? '←' : '→'
  const status = `${STATUS_WORDS[m.status] ?? m.status}${channelWords(m)}`
  const reason = m.error_message && ['failed', 'undelivered', 'refused'].includes(m.status) ? `: ${m.error_message}` : ''
  return {
    type: 'item',
    id: `msg-${m.id}`,
    title: `${arrow} ${m.redacted_at ? '(words removed)' : firstWords(m.body)}`,
    subtitle: `${status}${reason}${segmentsOf(m)} · ${when(m.created_at)}`,
    ...(m.twilio_sid ? { tertiary_text: m.twilio_sid } : {}),
  }
}

/** The inbox sidebar: short first view (phone, consent, last texts, compose), details behind a button. */
export function inboxPanel(state: PanelState, flash: PanelFlash = {}, segments?: SegmentInfo): CanvasResponse {
  const unconfirmed = state.consent.state === 'unconfirmed'
  const c: Component[] = [
    ...phoneSection(state, flash),
    ...numberSection(state, flash, unconfirmed),
    ...messagesSection(state, flash),
    ...composeSection(state, flash, unconfirmed, segments),
    ...scheduledSection(state),
    ...welcomeSection(state, unconfirmed),
    { type: 'button', id: 'refresh', label: 'Refresh', action: { type: 'submit' }, style: 'link' },
  ]
  if (state.messages.length > 0) c.push({ type: 'button', id: 'details', label: 'Details', action: { type: 'submit' }, style: 'link' })
  const stored = {
    ...(flash.takeOver ? { take_over: flash.takeOver } : {}),
    ...(state.mergeInto ? { merge_into: state.mergeInto.id } : {}),
  }
  return canvas(c, Object.keys(stored).length ? stored : undefined)
}

const phoneError = (message: string): Component => ({ type: 'text', id: 'phone_error', text: plainText(message), style: 'error' })

/** "Link +1 415 ... to this contact": offered when the typed number belongs to another contact. */
const takeOverButton = (phone: string): Component => ({
  type: 'button',
  id: 'save_phone_anyway',
  label: `Link ${formatForReading(phone)} to this contact`,
  action: { type: 'submit' },
  style: 'secondary',
})

/** The number, or a field to add one. */
function phoneSection(state: PanelState, flash: PanelFlash): Component[] {
  if (state.phone) return [{ type: 'text', id: 'phone', text: `*SMS* ${formatForReading(state.phone)}`, style: 'header' }]
  const c: Component[] = [
    { type: 'text', id: 'phone', text: 'No phone number for SMS yet.', style: 'muted' },
    {
      type: 'input',
      id: 'phone_input',
      label: 'Mobile number',
      placeholder: '+1 415 555 0100',
      ...(flash.phoneError ? { save_state: 'failed' as const } : {}),
    },
  ]
  if (flash.phoneError) c.push(phoneError(flash.phoneError))
  if (flash.takeOver) c.push(takeOverButton(flash.takeOver))
  c.push({ type: 'button', id: 'save_phone', label: 'Save number', action: { type: 'submit' }, style: 'secondary' })
  return c
}

/** Whether the number can be texted, and what a teammate may do about whose it is. */
function numberSection(state: PanelState, flash: PanelFlash, unconfirmed: boolean): Component[] {
  const style = state.consent.state === 'ok' ? 'muted' : 'error'
  const c: Component[] = [{ type: 'text', id: 'consent', text: plainText(consentSentence(state.consent)), style }]
  if (unconfirmed) c.push({ type: 'button', id: 'confirm_phone', label: 'Use this number', action: { type: 'submit' }, style: 'secondary' })
  c.push(...revocationSection(state))
  if (flash.phoneError && state.phone) c.push(phoneError(flash.phoneError))
  if (flash.takeOver && state.phone) c.push(takeOverButton(flash.takeOver))
  if (state.mergeInto) {
    const name = state.mergeInto.name ?? state.mergeInto.id
    c.push({ type: 'text', id: 'merge_hint', text: `User ${plainText(name)} has this number too.`, style: 'muted' })
    c.push({
      type: 'button',
      id: 'merge_contact',
      label: `Merge into ${name.slice(0, 40)}`,
      action: { type: 'submit' },
      style: 'secondary',
    })
  }
  return c
}

/** A pending request to stop texts: its deadline, and the two answers a teammate may give. */
function revocationSection(state: PanelState): Component[] {
  if (!state.revocation) return []
  const asked = new Date(state.revocation.askedAt).toISOString().slice(0, 10)
  return [
    { type: 'text', id: 'revocation', text: `Asked to stop texts on ${asked}: honour by ${state.revocation.honourBy}`, style: 'error' },
    { type: 'button', id: 'opt_out_number', label: 'Opt out this number', action: { type: 'submit' }, style: 'primary' },
    { type: 'button', id: 'dismiss_revocation', label: 'Not a request', action: { type: 'submit' }, style: 'link' },
  ]
}

/** The last texts (after a notice of what was just done). */
function messagesSection(state: PanelState, flash: PanelFlash): Component[] {
  const c: Component[] = []
  if (flash.notice) c.push({ type: 'text', id: 'notice', text: plainText(flash.notice), style: 'paragraph' })
  if (state.messages.length > 0) c.push({ type: 'list', id: 'messages', items: state.messages.map(messageItem) })
  else c.push({ type: 'text', id: 'messages_empty', text: 'No texts with this contact yet.', style: 'muted' })
  return c
}

/** The compose box, only for a number that may be texted. */
function composeSection(state: PanelState, flash: PanelFlash, unconfirmed: boolean, segments?: SegmentInfo): Component[] {
  const c: Component[] = []
  const smsError = (message: string): Component => ({ type: 'text', id: 'sms_error', text: plainText(message), style: 'error' })
  if (state.phone && state.consent.state !== 'opted_out' && !unconfirmed) {
    c.push({
      type: 'textarea',
      id: 'sms_body',
      label: 'Text message',
      placeholder: 'Write a text…',
      ...(flash.draft ? { value: flash.draft } : {}),
      ...(flash.error ? { error: true } : {}),
    })
    if (flash.error) c.push(smsError(flash.error))
    // Preview shows the counter and price (canvas/compose-views.ts); Send SMS skips it.
    c.push({ type: 'button', id: 'preview_sms', label: 'Preview', action: { type: 'submit' }, style: 'primary' })
    c.push({ type: 'button', id: 'send_sms', label: 'Send SMS', action: { type: 'submit' }, style: 'secondary' })
    c.push({ type: 'button', id: 'choose_macro', label: 'Use a macro', action: { type: 'submit' }, style: 'link' })
    c.push(sendLaterButton)
  } else if (flash.error) {
    c.push(smsError(flash.error))
  }
  if (segments) {
    const text = `${segments.segments} segment${segments.segments === 1 ? '' : 's'} (${segments.encoding})`
    c.push({ type: 'text', id: 'segments', text, style: 'muted' })
  }
  return c
}

/** The welcome text: sent, skipped, queued, or a button to send it. */
function welcomeSection(state: PanelState, unconfirmed: boolean): Component[] {
  const welcome = (text: string): Component[] => [{ type: 'text', id: 'welcome', text, style: 'muted' }]
  if (state.welcome?.status === 'sent') return welcome(`Welcome SMS sent ${when(state.welcome.at)}.`)
  if (state.welcome?.status === 'skipped') {
    // History, not advice: its first sentence says what stood in the way then ("They must text START"
    // would be stale once they have); the consent line above says where things stand now.
    const why = (state.welcome.reason ?? '').split(/(?<=[.!?])\s+(?=[A-Z])/)[0]
    return welcome(plainText(`The welcome SMS was not sent (${when(state.welcome.at)}): ${why}`))
  }
  if (state.welcome?.status === 'queued') return welcome('Welcome SMS queued.')
  if (state.welcomeEnabled && state.phone && !unconfirmed) {
    return [{ type: 'button', id: 'send_welcome', label: 'Send welcome SMS', action: { type: 'submit' }, style: 'secondary' }]
  }
  return []
}

/** Full MessageSids and statuses, for looking texts up in the Twilio Console. */
export function detailsPanel(state: PanelState): CanvasResponse {
  const items = state.messages.map((m) => ({
    type: 'field-value' as const,
    field: `${m.direction === 'inbound' ? '←' : '→'} ${when(m.created_at)}`,
    value: `${STATUS_WORDS[m.status] ?? m.status}${channelWords(m)}${m.error_code ? ` (error ${m.error_code})` : ''} · ${m.twilio_sid ?? 'no sid yet'}${m.fallback_sid ? ` · SMS ${m.fallback_sid}` : ''}`,
  }))
  return canvas([
    { type: 'text', id: 'details_title', text: '*Recent texts*', style: 'header' },
    ...(items.length ? [{ type: 'data-table' as const, id: 'details_table', items }] : []),
    { type: 'button', id: 'refresh', label: 'Back', action: { type: 'submit' }, style: 'secondary' },
  ])
}

const CONSENT_WORDS = {
  ok: 'Can be texted.',
  unconfirmed: "This number is on the contact's profile, which a visitor can set: use it only if you know it is theirs.",
  consent_required: 'Can be texted in reply. Automated texts need consent (SMS_CONSENT=required).',
}

/** The panel's consent line: since when and how, from the ledger, when it knows. */
function consentSentence(consent: PanelConsent): string {
  if (consent.state === 'opted_out')
    return consent.since ? `${optedOutSince(consent.since)} They must text START to receive texts again.` : consent.refusal.sentence
  if (consent.state === 'last_failed') return nextTextOutlook(consent.errorCode) ?? ''
  if (consent.state === 'ok' && consent.since) return `${CONSENT_WORDS.ok} ${consentGivenSince(consent.since)}`
  return CONSENT_WORDS[consent.state]
}

const day = (at: number) => new Date(at).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })
const toNumber = (number: string | null) => (number ? ` to ${number}` : '')

/** "Opted out 3 Dec 2026 by texting STOP to +14155550100." */
function optedOutSince(e: ConsentEvent): string {
  if (e.source === 'keyword') return `Opted out ${day(e.created_at)} by texting ${e.text ?? 'STOP'}${toNumber(e.number)}.`
  if (e.source.startsWith('twilio:')) {
    return `Opted out ${day(e.created_at)}: Twilio refused a text${e.number ? ` from ${e.number}` : ''} with error ${e.source.slice(7)} (the number had opted out).`
  }
  return `Opted out ${day(e.created_at)} (${e.source}${e.actor ? `, by ${e.actor}` : ''}).`
}

/** "Consent given 3 Dec 2026 by verifying the number in the Messenger." */
function consentGivenSince(e: ConsentEvent): string {
  if (e.source === 'messenger') return `Consent given ${day(e.created_at)} by verifying the number in the Messenger.`
  if (e.source === 'keyword') return `Opted back in ${day(e.created_at)} by texting ${e.text ?? 'START'}${toNumber(e.number)}.`
  return `Opted in ${day(e.created_at)} (${e.source}${e.actor ? `, by ${e.actor}` : ''}).`
}

/** Why the panel's number may not be texted (sending, or the welcome). */
const NO_NUMBER = {
  no_number: 'Add a mobile number first.',
  unconfirmed: 'Confirm the number first ("Use this number"): it is only on the contact\'s profile, which a visitor can set.',
}

/** "Send SMS": the draft is kept on every refusal (without the NUL that cannot be sent). */
export function sendFlash(outcome: SendOutcome, text: string): PanelFlash {
  switch (outcome.kind) {
    case 'queued': {
      const { segments, encoding } = outcome.segments
      return { notice: `Queued: ${segments} segment${segments === 1 ? '' : 's'} (${encoding}).` }
    }
    case 'invalid':
      if (outcome.problem === 'empty') return { error: 'Write a message first.' }
      if (outcome.problem === 'nul')
        return { error: 'The text contains a character that cannot be sent (NUL).', draft: text.replaceAll('\u0000', '') }
      return { error: `Too long: ${outcome.length} characters, at most ${MAX_SMS_BODY}.`, draft: text }
    case 'refused':
      return { error: outcome.reason === 'opted_out' ? `Not sent: ${outcome.refusal.sentence}` : NO_NUMBER[outcome.reason], draft: text }
  }
}

/** "Send welcome SMS". */
export function welcomeFlash(outcome: WelcomeOutcome): PanelFlash {
  switch (outcome.kind) {
    case 'queued':
      return { notice: 'Welcome SMS queued.' }
    case 'already':
      return { notice: `The welcome SMS was already ${outcome.status}.` }
    case 'refused':
      return {
        error: outcome.reason === 'welcome_off' ? 'The welcome text is off (WELCOME_SMS_TEMPLATE is empty).' : NO_NUMBER[outcome.reason],
      }
  }
}

/** "Save number", "Use this number" and "Link … to this contact". */
export function savePhoneFlash(outcome: SavePhoneOutcome): PanelFlash {
  switch (outcome.kind) {
    case 'saved':
      return { notice: 'Number saved.' }
    case 'invalid':
      return {
        phoneError:
          outcome.problem === 'unparsable'
            ? 'That is not a phone number. Include the country code, e.g. +1 415 555 0100.'
            : 'That number cannot receive texts (not a mobile number).',
      }
    case 'refused':
      return {
        phoneError: `This number is linked to another contact (${outcome.linkedTo}). Link it to this contact instead?`,
        takeOver: outcome.phone,
      }
  }
}

/** A button whose canvas lacks what it acts on (a canvas from before it was offered). */
export const TYPE_AGAIN: PanelFlash = { phoneError: 'Type the number again.' }
export const REFRESH_AGAIN: PanelFlash = { error: 'Refresh and try again.' }

/** "Merge into …". */
export function mergeFlash(outcome: MergeOutcome): PanelFlash {
  if (outcome.kind === 'queued')
    return { notice: `Merging into ${outcome.into.name ?? 'the user'}: this conversation moves to them in a moment.` }
  return { error: 'That contact cannot be merged with this one any more. Refresh to see where things stand.' }
}

/** "Opt out this number" and "Not a request". */
export function revocationFlash(outcome: RevocationOutcome): PanelFlash {
  switch (outcome.kind) {
    case 'opted_out':
      return {
        notice: `${formatForReading(outcome.phone)} is opted out: no text goes to it from any of our numbers until the customer texts START.`,
      }
    case 'dismissed':
      return { notice: 'Marked as not a request to stop texts.' }
    case 'none_pending':
      return {
        notice: 'Nothing to answer any more: the number opted out, or a teammate already answered. The panel shows where things stand.',
      }
    case 'refused':
      return { error: NO_NUMBER[outcome.reason] }
  }
}
