import type { Message } from '../shared/db/schema.js'
import { formatForReading } from '../shared/phone.js'
import type { SegmentInfo } from '../shared/text.js'
import type { CanvasResponse, Component } from './schema.js'

/** What the inbox panel shows; read from the bridge's own database, never from Intercom. */
export interface PanelState {
  phone: string | null
  /** Whether the number can be texted; `last_failed`: it can, but the last text failed for a reason the next one will likely meet too. */
  consent: { state: 'ok' | 'opted_out' | 'consent_required' | 'last_failed' | 'unconfirmed'; sentence: string }
  messages: Message[]
  welcome: { status: string; at: number; reason: string | null } | null
  welcomeEnabled: boolean
  /** A user the bridge's own lead may be merged into (they have the number too). */
  mergeInto: { id: string; name: string | null } | null
}

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

/**
 * Canvas Kit text components are markdown (*bold*, _italic_, [links](...)): text from a person or a
 * sentence naming a setting is escaped, or "SMS_ALLOWED_COUNTRIES" loses its underscores.
 */
export function plainText(text: string): string {
  return text.replace(/[\\*_[\]`]/g, (c) => `\\${c}`)
}

export function canvas(components: Component[], storedData?: Record<string, unknown>): CanvasResponse {
  return { canvas: { content: { components }, ...(storedData ? { stored_data: storedData } : {}) } }
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
  const c: Component[] = []
  if (state.phone) {
    c.push({ type: 'text', id: 'phone', text: `*SMS* ${formatForReading(state.phone)}`, style: 'header' })
  } else {
    c.push({ type: 'text', id: 'phone', text: 'No phone number for SMS yet.', style: 'muted' })
    c.push({ type: 'input', id: 'phone_input', label: 'Mobile number', placeholder: '+1 415 555 0100', ...(flash.phoneError ? { save_state: 'failed' as const } : {}) })
    if (flash.phoneError) c.push({ type: 'text', id: 'phone_error', text: plainText(flash.phoneError), style: 'error' })
    if (flash.takeOver) c.push({ type: 'button', id: 'save_phone_anyway', label: `Link ${formatForReading(flash.takeOver)} to this contact`, action: { type: 'submit' }, style: 'secondary' })
    c.push({ type: 'button', id: 'save_phone', label: 'Save number', action: { type: 'submit' }, style: 'secondary' })
  }
  c.push({ type: 'text', id: 'consent', text: plainText(state.consent.sentence), style: state.consent.state === 'ok' ? 'muted' : 'error' })
  const unconfirmed = state.consent.state === 'unconfirmed'
  if (unconfirmed) c.push({ type: 'button', id: 'confirm_phone', label: 'Use this number', action: { type: 'submit' }, style: 'secondary' })
  if (flash.phoneError && state.phone) c.push({ type: 'text', id: 'phone_error', text: plainText(flash.phoneError), style: 'error' })
  if (flash.takeOver && state.phone) c.push({ type: 'button', id: 'save_phone_anyway', label: `Link ${formatForReading(flash.takeOver)} to this contact`, action: { type: 'submit' }, style: 'secondary' })
  if (state.mergeInto) {
    const name = state.mergeInto.name ?? state.mergeInto.id
    c.push({ type: 'text', id: 'merge_hint', text: `User ${plainText(name)} has this number too.`, style: 'muted' })
    c.push({ type: 'button', id: 'merge_contact', label: `Merge into ${name.slice(0, 40)}`, action: { type: 'submit' }, style: 'secondary' })
  }

  if (flash.notice) c.push({ type: 'text', id: 'notice', text: plainText(flash.notice), style: 'paragraph' })
  if (state.messages.length > 0) {
    c.push({ type: 'list', id: 'messages', items: state.messages.map(messageItem) })
  } else {
    c.push({ type: 'text', id: 'messages_empty', text: 'No texts with this contact yet.', style: 'muted' })
  }

  if (state.phone && state.consent.state !== 'opted_out' && !unconfirmed) {
    c.push({ type: 'textarea', id: 'sms_body', label: 'Text message', placeholder: 'Write a text…', ...(flash.draft ? { value: flash.draft } : {}), ...(flash.error ? { error: true } : {}) })
    if (flash.error) c.push({ type: 'text', id: 'sms_error', text: plainText(flash.error), style: 'error' })
    c.push({ type: 'button', id: 'send_sms', label: 'Send SMS', action: { type: 'submit' }, style: 'primary' })
  } else if (flash.error) {
    c.push({ type: 'text', id: 'sms_error', text: plainText(flash.error), style: 'error' })
  }
  if (segments) c.push({ type: 'text', id: 'segments', text: `${segments.segments} segment${segments.segments === 1 ? '' : 's'} (${segments.encoding})`, style: 'muted' })

  if (state.welcome?.status === 'sent') {
    c.push({ type: 'text', id: 'welcome', text: `Welcome SMS sent ${when(state.welcome.at)}.`, style: 'muted' })
  } else if (state.welcome?.status === 'skipped') {
    // History, not advice: its first sentence says what stood in the way then ("They must text START"
    // would be stale once they have); the consent line above says where things stand now.
    const why = (state.welcome.reason ?? '').split(/(?<=[.!?])\s+(?=[A-Z])/)[0]
    c.push({ type: 'text', id: 'welcome', text: plainText(`The welcome SMS was not sent (${when(state.welcome.at)}): ${why}`), style: 'muted' })
  } else if (state.welcome?.status === 'queued') {
    c.push({ type: 'text', id: 'welcome', text: 'Welcome SMS queued.', style: 'muted' })
  } else if (state.welcomeEnabled && state.phone && !unconfirmed) {
    c.push({ type: 'button', id: 'send_welcome', label: 'Send welcome SMS', action: { type: 'submit' }, style: 'secondary' })
  }
  c.push({ type: 'button', id: 'refresh', label: 'Refresh', action: { type: 'submit' }, style: 'link' })
  if (state.messages.length > 0) c.push({ type: 'button', id: 'details', label: 'Details', action: { type: 'submit' }, style: 'link' })
  const stored = { ...(flash.takeOver ? { take_over: flash.takeOver } : {}), ...(state.mergeInto ? { merge_into: state.mergeInto.id } : {}) }
  return canvas(c, Object.keys(stored).length ? stored : undefined)
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

/** Whatever went wrong, Intercom gets a canvas that says so and offers a way back. */
export function errorCanvas(message = 'Something went wrong loading SMS for this contact.'): CanvasResponse {
  return canvas([
    { type: 'text', id: 'error', text: plainText(message), style: 'error' },
    { type: 'button', id: 'refresh', label: 'Refresh', action: { type: 'submit' }, style: 'secondary' },
  ])
}

/** The Messenger card: "Prefer text messages?" with a number and a consent box. */
export function messengerCard(flash: { phoneError?: string; consentError?: string; phone?: string } = {}): CanvasResponse {
  const c: Component[] = [
    { type: 'text', id: 'title', text: 'Prefer text messages?', style: 'header' },
    { type: 'text', id: 'intro', text: 'Leave your mobile number and we will continue by SMS.', style: 'paragraph' },
    { type: 'input', id: 'phone', label: 'Mobile number', placeholder: '+1 415 555 0100', ...(flash.phone ? { value: flash.phone } : {}), ...(flash.phoneError ? { save_state: 'failed' as const } : {}) },
  ]
  if (flash.phoneError) c.push({ type: 'text', id: 'phone_error', text: plainText(flash.phoneError), style: 'error' })
  c.push({ type: 'checkbox', id: 'consent', label: 'Consent', option: [{ type: 'option', id: 'agree', text: 'I agree to receive text messages. Reply STOP to opt out.' }] })
  if (flash.consentError) c.push({ type: 'text', id: 'consent_error', text: plainText(flash.consentError), style: 'error' })
  c.push({ type: 'button', id: 'subscribe', label: 'Text me', action: { type: 'submit' }, style: 'primary' })
  return canvas(c)
}

/** The Messenger card's second step: the code texted to the number, with a way to get another. */
export function messengerCode(v: { phone: string; verificationId: number; error?: string; notice?: string }): CanvasResponse {
  const c: Component[] = [
    { type: 'text', id: 'title', text: 'Check your texts', style: 'header' },
    { type: 'text', id: 'sent_to', text: `We texted a 6-digit code to ${formatForReading(v.phone)}. Enter it to confirm the number is yours.`, style: 'paragraph' },
    { type: 'input', id: 'code', label: 'Code', placeholder: '123456', ...(v.error ? { save_state: 'failed' as const } : {}) },
  ]
  if (v.error) c.push({ type: 'text', id: 'code_error', text: plainText(v.error), style: 'error' })
  if (v.notice) c.push({ type: 'text', id: 'code_notice', text: plainText(v.notice), style: 'muted' })
  c.push(
    { type: 'button', id: 'verify', label: 'Confirm', action: { type: 'submit' }, style: 'primary' },
    { type: 'button', id: 'resend', label: 'Send a new code', action: { type: 'submit' }, style: 'link' },
    { type: 'button', id: 'change_number', label: 'Use another number', action: { type: 'submit' }, style: 'link' },
  )
  return canvas(c, { verification: v.verificationId })
}

export function messengerDone(phone: string): CanvasResponse {
  return canvas([
    { type: 'text', id: 'done', text: `Thanks! We will text you at ${formatForReading(phone)}.`, style: 'header' },
    { type: 'text', id: 'stop', text: 'Reply STOP at any time to opt out.', style: 'muted' },
  ])
}
