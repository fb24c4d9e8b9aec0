import { z } from 'zod'
import { runIn } from '../../shared/db/statement.js'
import type { Tx } from '../../shared/db/database.js'
import { getConsent, setConsent, type ConsentEvidence } from '../../shared/db/consent.js'
import { resolveRevocations } from '../../shared/db/revocations.js'
import { escapeHtml } from '../../shared/text.js'
import { textingRefusal } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { queues } from './keys.js'
import { showConsentOnContact } from './intercom-consent.js'

/** What a keyword asks for; the inbound text's job carries Twilio's verdict in the same words. */
export const keyword = z.enum(['opt_out', 'opt_in', 'help'])
export type Keyword = z.output<typeof keyword>

// Twilio's default opt-out handling words; only the exact single word counts, in any case.
const KEYWORDS: Record<string, Keyword> = {
  STOP: 'opt_out',
  STOPALL: 'opt_out',
  UNSUBSCRIBE: 'opt_out',
  CANCEL: 'opt_out',
  END: 'opt_out',
  QUIT: 'opt_out',
  REVOKE: 'opt_out',
  OPTOUT: 'opt_out',
  START: 'opt_in',
  YES: 'opt_in',
  UNSTOP: 'opt_in',
  HELP: 'help',
  INFO: 'help',
}

export function detectKeyword(body: string): Keyword | null {
  return KEYWORDS[body.trim().toUpperCase()] ?? null
}

const keywordEvent = z.object({
  keyword,
  messageId: z.number().int().positive(),
  phone: z.string().min(1),
  contactId: z.string().min(1),
  conversationId: z.string().min(1),
  /** A teammate's opt-out from the sidebar (who, for the note), not the customer's keyword. */
  by: z.string().min(1).optional(),
})
export type KeywordEvent = z.output<typeof keywordEvent>

/** Telling the team and Intercom about a keyword, once per text, in the phone's order. */
export const keywordTask = defineTask('consent.keyword', keywordEvent, {
  lane: 'inbound',
  run: applyKeyword,
  keys: {
    keyword: (messageId: number) => `keyword:${messageId}`,
    /** A teammate opted the number out on a pending request to stop texts (its id). */
    teammate: (requestId: number) => `keyword:teammate:${requestId}`,
  },
})

/**
 * Records the consent change a keyword makes and queues telling the team and Intercom. START or YES
 * from a number that was not opted out changes nothing (a "yes" is often an answer to a teammate's
 * question): no note then, since "opted back in" would be false.
 */
export async function recordKeyword(trx: Tx, event: KeywordEvent, evidence: ConsentEvidence, now: number): Promise<void> {
  if (event.keyword === 'opt_in' && (await getConsent(trx, event.phone))?.state !== 'opted_out') return
  if (event.keyword !== 'help') {
    const change = { state: event.keyword === 'opt_out' ? 'opted_out' : 'opted_in', source: 'keyword', evidence } as const
    await runIn(trx, ...setConsent(event.phone, change, now))
    // An opt-out settles any pending request to stop texts (revocations.ts); an opt-in settles none.
    if (event.keyword === 'opt_out') await runIn(trx, resolveRevocations(event.phone, 'opted_out', now))
  }
  await runIn(
    trx,
    enqueueTask(keywordTask, event, { key: keywordTask.keys.keyword(event.messageId), queueKey: queues.phone(event.phone) }, now),
  )
}

const NOTES: Record<Keyword, string> = {
  opt_out:
    '<p><b>The customer opted out of text messages</b> (they texted STOP or a similar word).</p>' +
    '<p>Replies in this conversation will not be sent as SMS. Twilio blocks texts to this number until the customer texts START.</p>',
  opt_in:
    '<p><b>The customer opted back in to text messages</b> (they texted START or a similar word).</p>' +
    '<p>Replies in this conversation are sent as SMS again.</p>',
  help:
    '<p><b>The customer asked for help</b> (they texted HELP or INFO).</p>' +
    "<p>Twilio answers with your number's help message; a reply here reaches them as SMS.</p>",
}

/** A teammate's "Opt out this number", on a request to stop texts that was not a keyword. */
function teammateOptOut(who: string): string {
  return (
    `<p><b>${escapeHtml(who)} opted this number out of text messages</b> (the customer asked to stop texts).</p>` +
    '<p>Replies in this conversation will not be sent as SMS, and no automated text goes to this number from any of our numbers, until the customer texts START.</p>'
  )
}

/** HELP from a number that opted out: Twilio still answers it, but the bridge sends them nothing. */
function helpWhileRefused(sentence: string): string {
  return (
    '<p><b>The customer asked for help</b> (they texted HELP or INFO).</p>' +
    `<p>Twilio answers with your number's help message, but a reply here is not sent as SMS: ${escapeHtml(sentence)}</p>`
  )
}

/**
 * Job: shows the consent change on the Intercom contact (attribute and SMS subscription) and in the
 * conversation. Safe to repeat.
 */
export async function applyKeyword(deps: BridgeDeps, event: KeywordEvent): Promise<void> {
  if (event.keyword !== 'help') await showConsentOnContact(deps, event.contactId, event.keyword === 'opt_out')
  // HELP changes no consent: whether a reply reaches the phone is the same answer replies get.
  const refusal = event.keyword === 'help' ? await textingRefusal(deps, { phone: event.phone, automated: false }) : null
  const note = refusal ? helpWhileRefused(refusal.sentence) : event.by ? teammateOptOut(event.by) : NOTES[event.keyword]
  await deps.intercom.addNote(event.conversationId, note)
}
