import type { ConfirmOutcome, SubscribeOutcome } from '../server/bridge/messenger.js'
import type { ResendOutcome } from '../server/bridge/verification.js'
import { formatForReading } from '../shared/phone.js'
import type { CanvasResponse, Component } from './schema.js'
import { canvas, plainText } from './views.js'

// The Messenger card's views and every sentence a visitor reads on it.

/**
 * Every refusal of a number says this, whatever the reason (opted out, linked to someone else, a
 * country or a cap, Twilio refused): a visitor must not learn anything about a number they may not
 * hold. The team gets the reason in the metric and the log.
 */
export const COULD_NOT_TEXT = 'We could not text that number. Check it, or ask us in the chat.'

const REFUSED = {
  could_not_text: COULD_NOT_TEXT,
  start_again: 'Start again: enter your number.',
  expired: 'That code has expired. Start again: enter your number.',
  too_many_tries: 'Too many wrong codes. Ask for a new code.',
  sends_used_up: 'No more codes can be sent for this number now. Please ask us in the chat.',
  too_soon: 'A code was just sent. Wait a minute before asking for another.',
  // Checked again once the visitor proved they hold the number: these may say why.
  linked_elsewhere: 'This number cannot be used here. Please ask us in the chat.',
  opted_out: 'This number opted out of our texts. Text START to us from that phone first.',
}

/** "Text me": the code step, or the card again with what was typed and what is wrong. */
export function subscribeAnswer(outcome: SubscribeOutcome, typed: string): CanvasResponse {
  if (outcome.kind === 'code_sent') return messengerCode({ phone: outcome.phone, verificationId: outcome.verificationId })
  const phone = typed.slice(0, 64)
  if (outcome.kind === 'refused') return messengerCard({ phoneError: REFUSED[outcome.reason], phone })
  const { phone: problem, consent } = outcome.fields
  return messengerCard({
    phone,
    ...(problem
      ? {
          phoneError:
            problem === 'unparsable'
              ? 'Please enter a mobile number with its country code, e.g. +1 415 555 0100.'
              : 'That number cannot receive texts. Please use a mobile number.',
        }
      : {}),
    ...(consent ? { consentError: 'Please tick the box to agree to text messages.' } : {}),
  })
}

/** "Confirm": done, the code step again with what is wrong, or back to the number. */
export function confirmAnswer(outcome: ConfirmOutcome, verificationId: number): CanvasResponse {
  if (outcome.kind === 'subscribed') return messengerDone(outcome.phone)
  if (outcome.kind === 'invalid') {
    const left = outcome.triesLeft
    return messengerCode({
      phone: outcome.phone,
      verificationId,
      error: `That code is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.`,
    })
  }
  if ('phone' in outcome) return messengerCode({ phone: outcome.phone, verificationId, error: REFUSED[outcome.reason] })
  return messengerCard({ phoneError: REFUSED[outcome.reason] })
}

/** "Send a new code": the code step with a notice or what stood in the way, or back to the number. */
export function resendAnswer(outcome: ResendOutcome, verificationId: number): CanvasResponse {
  if (outcome.kind === 'code_sent') return messengerCode({ phone: outcome.phone, verificationId, notice: 'A new code is on its way.' })
  if ('phone' in outcome) return messengerCode({ phone: outcome.phone, verificationId, error: REFUSED[outcome.reason] })
  return messengerCard({ phoneError: REFUSED[outcome.reason] })
}

/** The Messenger card: "Prefer text messages?" with a number and a consent box. */
export function messengerCard(flash: { phoneError?: string; consentError?: string; phone?: string } = {}): CanvasResponse {
  const c: Component[] = [
    { type: 'text', id: 'title', text: 'Prefer text messages?', style: 'header' },
    { type: 'text', id: 'intro', text: 'Leave your mobile number and we will continue by SMS.', style: 'paragraph' },
    {
      type: 'input',
      id: 'phone',
      label: 'Mobile number',
      placeholder: '+1 415 555 0100',
      ...(flash.phone ? { value: flash.phone } : {}),
      ...(flash.phoneError ? { save_state: 'failed' as const } : {}),
    },
  ]
  if (flash.phoneError) c.push({ type: 'text', id: 'phone_error', text: plainText(flash.phoneError), style: 'error' })
  c.push({
    type: 'checkbox',
    id: 'consent',
    label: 'Consent',
    option: [{ type: 'option', id: 'agree', text: 'I agree to receive text messages. Reply STOP to opt out.' }],
  })
  if (flash.consentError) c.push({ type: 'text', id: 'consent_error', text: plainText(flash.consentError), style: 'error' })
  c.push({ type: 'button', id: 'subscribe', label: 'Text me', action: { type: 'submit' }, style: 'primary' })
  return canvas(c)
}

/** The Messenger card's second step: the code texted to the number, with a way to get another. */
export function messengerCode(v: { phone: string; verificationId: number; error?: string; notice?: string }): CanvasResponse {
  const c: Component[] = [
    { type: 'text', id: 'title', text: 'Check your texts', style: 'header' },
    {
      type: 'text',
      id: 'sent_to',
      text: `We texted a 6-digit code to ${formatForReading(v.phone)}. Enter it to confirm the number is yours.`,
      style: 'paragraph',
    },
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
