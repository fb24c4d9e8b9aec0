import type { QuickReplyOption } from '../../shared/db/quick-replies.js'

export type { QuickReplyOption }

/**
 * What a customer's phone gets for a part a teammate (or, with RELAY_BOT_REPLIES, a bot) wrote:
 * - `text`: its words and files are texted (a part with neither sends nothing);
 * - `ask`: a quick reply, texted as its question with the buttons numbered;
 * - `skip`: nothing, and no note (it is for the team, or Messenger's own chrome);
 * - `note`: nothing is texted, and a note tells the team (a kind of part the bridge does not know).
 */
export type PartHandling = 'text' | 'ask' | 'skip' | 'note'

/**
 * Every part type Intercom's 2.16 description names or real notifications carried, and what a
 * phone receives. Intercom records a teammate's words on state changes too (a reply that assigns,
 * reopens, closes or snoozes), so those are texted when they carry words. A type not listed here is
 * `note`: texting Messenger chrome to a phone is worse than telling the team once.
 */
export const PART_TYPES: Readonly<Record<string, PartHandling>> = {
  comment: 'text',
  assignment: 'text',
  open: 'text',
  close: 'text',
  assign_and_reopen: 'text',
  snoozed: 'text',
  quick_reply: 'ask',
  note: 'skip',
  note_and_reopen: 'skip',
  // "Acme will reply as soon as they can": the Messenger's reply-time notice, not a message.
  channel_and_reply_time_expectation: 'skip',
  away_mode_assignment: 'skip',
  timer_unsnooze: 'skip',
  conversation_attribute_updated_by_admin: 'skip',
  ticket_attribute_updated_by_admin: 'skip',
  ticket_state_updated_by_admin: 'skip',
  custom_action_started: 'skip',
  custom_action_finished: 'skip',
  merged_primary_conversation: 'skip',
  participant_added: 'skip',
  participant_removed: 'skip',
}

export function partHandling(partType: string): PartHandling {
  return Object.hasOwn(PART_TYPES, partType) ? PART_TYPES[partType]! : 'note'
}

/** "Reply 1 for Yes, 2 for No.": plain words and digits, so the text stays GSM-7. */
export function numberedOptions(options: QuickReplyOption[]): string {
  return `Reply ${options.map((o, i) => `${i + 1} for ${o.text.trim()}`).join(', ')}.`
}

/**
 * The option a customer's text chooses: its number ("1", "1.", "#1") or its words ("yes", "Yes!"),
 * compared without case, spaces or trailing punctuation. Anything else chooses nothing.
 */
export function chosenOption(body: string, options: QuickReplyOption[]): QuickReplyOption | null {
  const said = body
    .trim()
    .toLowerCase()
    .replace(/^#/, '')
    .replace(/[\s.!?)]+$/, '')
  if (/^\d+$/.test(said)) return options[Number(said) - 1] ?? null
  return (
    options.find(
      (o) =>
        o.text
          .trim()
          .toLowerCase()
          .replace(/[\s.!?]+$/, '') === said,
    ) ?? null
  )
}
