import type { ScheduledText } from '../shared/db/schema.js'
import { formatLocal } from '../shared/send-later.js'
import type { ScheduleOutcome, ScheduledChangeOutcome, ScheduleTimes } from '../server/bridge/scheduled.js'
import type { PanelState } from '../server/bridge/sidebar.js'
import type { CanvasResponse, Component } from './schema.js'
import { canvas, plainText } from './views.js'

// Send later: the schedule screen and the panel's list of scheduled texts. Canvas Kit cannot change a
// view while a teammate types, nor give a list row its own button id that the one-time nonce check
// knows in advance: the times are worked out when the screen opens (the customer's zone and the
// workspace's office hours), and Cancel / Send anyway act on the texts ticked in one checkbox list.

const utc = (at: number) => `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`
/** "2026-12-08 09:00 Europe/Dublin (2026-12-08 09:00 UTC)". */
export const theirTime = (at: number, zone: string) => `${formatLocal(at, zone)} ${zone} (${utc(at)})`

/** "Send later", beside "Send SMS" in the composer. */
export const sendLaterButton: Component = {
  type: 'button',
  id: 'send_later',
  label: 'Send later',
  action: { type: 'submit' },
  style: 'secondary',
}

/** The screen "Send later" opens: the draft, the three choices, and a way back. */
export function scheduleScreen(times: ScheduleTimes, draft: string, error?: string): CanvasResponse {
  const c: Component[] = [
    { type: 'text', id: 'schedule_title', text: "*Send later*, in the customer's time", style: 'header' },
    { type: 'textarea', id: 'sms_body', label: 'Text message', value: draft, ...(error && !draft.trim() ? { error: true } : {}) },
    {
      type: 'button',
      id: 'schedule_tomorrow',
      label: `Tomorrow ${formatLocal(times.tomorrow, times.zone).slice(11)} their time`,
      action: { type: 'submit' },
      style: 'secondary',
    },
  ]
  if (times.businessMorning !== null) {
    c.push({
      type: 'button',
      id: 'schedule_business_morning',
      label: `Next business morning: ${formatLocal(times.businessMorning, times.zone)}`,
      action: { type: 'submit' },
      style: 'secondary',
    })
  }
  c.push(
    {
      type: 'input',
      id: 'send_at_input',
      label: `Or a time on their clock (${times.zone})`,
      placeholder: 'YYYY-MM-DD HH:MM',
      ...(error ? { save_state: 'failed' as const } : {}),
    },
    ...(error ? [{ type: 'text' as const, id: 'schedule_error', text: plainText(error), style: 'error' as const }] : []),
    { type: 'button', id: 'schedule_chosen', label: 'Schedule at this time', action: { type: 'submit' }, style: 'primary' },
    {
      type: 'text',
      id: 'schedule_zone',
      text: plainText(`Their time zone: ${times.zone}. Consent and quiet hours are checked again when it goes.`),
      style: 'muted',
    },
    { type: 'button', id: 'refresh', label: 'Back', action: { type: 'submit' }, style: 'link' },
  )
  return canvas(c)
}

const FIELD_WORDS = {
  format: 'Write the time as YYYY-MM-DD HH:MM, for example 2026-12-24 09:30.',
  no_such_time: 'That time does not exist on their clock (the clocks go forward then). Pick another.',
  past: 'That time has passed on their clock. Pick a later one.',
  too_far: 'At most 35 days ahead.',
} as const

/** What scheduling said: a sentence for the panel, or (invalid) for the screen again. */
export function scheduleWords(outcome: ScheduleOutcome): { notice: string } | { error: string; again: boolean } {
  switch (outcome.kind) {
    case 'scheduled':
      return { notice: `Scheduled for ${theirTime(outcome.sendAt, outcome.zone)}.` }
    case 'invalid':
      if (outcome.field === 'send_at') return { error: FIELD_WORDS[outcome.problem], again: true }
      return {
        error:
          outcome.problem === 'empty'
            ? 'Write a message first.'
            : outcome.problem === 'nul'
              ? 'The text contains a character that cannot be sent (NUL).'
              : `Too long: ${outcome.length} characters.`,
        again: true,
      }
    case 'refused':
      if (outcome.reason === 'opted_out') return { error: `Not scheduled: ${outcome.refusal.sentence}`, again: false }
      return { error: outcome.reason === 'no_number' ? 'Add a phone number first.' : 'Confirm the number first.', again: false }
  }
}

/** "Cancel" / "Send anyway". */
export function scheduledChangeWords(outcome: ScheduledChangeOutcome): { notice?: string; error?: string } {
  if (outcome.kind === 'nothing_chosen') return { error: 'Tick a scheduled text first.' }
  const n = `${outcome.count} scheduled text${outcome.count === 1 ? '' : 's'}`
  return { notice: outcome.kind === 'cancelled' ? `Cancelled ${n}.` : `${n} will be sent anyway.` }
}

function optionText(t: ScheduledText): string {
  const who = t.admin_name ? ` · by ${t.admin_name}` : ''
  const held = t.state === 'held' ? 'HELD (they wrote first) · ' : ''
  const words = t.body.replace(/\s+/g, ' ')
  return `${held}${theirTime(t.send_at, t.time_zone)}${who}: ${words.length > 40 ? `${words.slice(0, 39)}…` : words}`
}

/** The texts waiting to go: when (their time and UTC), who scheduled them, and what may be done. */
export function scheduledSection(state: Pick<PanelState, 'scheduled'>): Component[] {
  if (state.scheduled.length === 0) return []
  const c: Component[] = [
    {
      type: 'checkbox',
      id: 'scheduled_pick',
      label: 'Scheduled texts',
      option: state.scheduled.map((t) => ({ type: 'option' as const, id: `st-${t.id}`, text: optionText(t) })),
    },
    { type: 'button', id: 'cancel_scheduled', label: 'Cancel', action: { type: 'submit' }, style: 'secondary' },
  ]
  if (state.scheduled.some((t) => t.state === 'held')) {
    c.push({ type: 'button', id: 'send_scheduled_anyway', label: 'Send anyway', action: { type: 'submit' }, style: 'secondary' })
  }
  return c
}

/** The scheduled texts a submit ticked (`st-<id>`). */
export function pickedScheduled(values: Record<string, unknown> | null | undefined): number[] {
  const picked = values?.scheduled_pick
  const list = Array.isArray(picked) ? picked : typeof picked === 'string' ? [picked] : []
  return list.flatMap((v) => (typeof v === 'string' && /^st-\d{1,12}$/.test(v) ? [Number(v.slice(3))] : []))
}
