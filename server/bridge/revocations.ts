import { getConsent, setConsent } from '../../shared/db/consent.js'
import { getMessage } from '../../shared/db/messages.js'
import type { Message, RevocationRequest } from '../../shared/db/schema.js'
import { pendingRevocation, recordRevocationRequest, resolveRevocations } from '../../shared/db/revocations.js'
import type { Statement } from '../../shared/db/statement.js'
import { detectRevocation, honourBy } from '../../shared/revocation.js'
import { escapeHtml } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'
import { enqueueTask } from '../queue/task.js'
import { noteTask } from './outbound.js'
import { queues } from './keys.js'
import { keywordTask } from './keywords.js'
import { numberOf, type PanelContext } from './sidebar.js'

/** What the team reads in the conversation: the likely request, and the day it must be honoured by. */
function revocationNote(phrase: string, deadline: string): string {
  return (
    `<p><b>This may be a request to stop texts</b> (the customer wrote "${escapeHtml(phrase)}"). The bridge has not opted the number out.</p>` +
    `<p>The FCC counts a request to stop in any reasonable words as a revocation of consent: honour it by <b>${deadline}</b> ` +
    '(10 business days from the text; public holidays are not counted, check yours). ' +
    'In the SMS panel, <b>Opt out this number</b> stops every text to it; <b>Not a request</b> dismisses this.</p>'
  )
}

/**
 * A text that is not a keyword but reads like "please stop texting me": the pending request is
 * recorded and the team is told, with the deadline. Nothing is opted out on this guess, and a number
 * already opted out is not flagged again. Statements to commit with the text's delivery.
 */
export async function flagRevocation(
  deps: Pick<BridgeDeps, 'store' | 'clock'>,
  message: Pick<Message, 'id' | 'phone' | 'body' | 'created_at'>,
  conversationId: string,
): Promise<Statement[]> {
  const phrase = detectRevocation(message.body)
  if (!phrase || (await getConsent(deps.store.db, message.phone))?.state === 'opted_out') return []
  // From the text's own time: a text delivered late (an outage, the catch-up) does not gain days.
  const deadline = honourBy(message.created_at)
  const request = { phone: message.phone, messageId: message.id, conversationId, phrase, honourBy: deadline }
  return [
    recordRevocationRequest(request, message.created_at),
    enqueueTask(
      noteTask,
      { conversationId, html: revocationNote(phrase, deadline) },
      { key: noteTask.keys.revocationNote(message.id) },
      deps.clock.now(),
    ),
  ]
}

/** What "Opt out this number" and "Not a request" did. */
export type RevocationOutcome =
  | { kind: 'opted_out'; phone: string }
  | { kind: 'dismissed' }
  /** Nothing was pending any more: the number opted out meanwhile, or another teammate dismissed it. */
  | { kind: 'none_pending' }
  | { kind: 'refused'; reason: 'no_number' | 'unconfirmed' }

/** The panel's confirmed number and its pending request, when both are there. */
async function pendingOf(deps: BridgeDeps, ctx: PanelContext): Promise<{ phone: string; request: RevocationRequest } | RevocationOutcome> {
  const number = await numberOf(deps, ctx.contact)
  if (!number) return { kind: 'refused', reason: 'no_number' }
  if (!number.confirmed) return { kind: 'refused', reason: 'unconfirmed' }
  const request = await pendingRevocation(deps.store.db, number.phone)
  return request ? { phone: number.phone, request } : { kind: 'none_pending' }
}

/**
 * "Opt out this number": a teammate honours a request to stop texts. Recorded as every opt-out is
 * (setConsent, so every path and every one of our numbers refuses it), the pending requests settled,
 * and Intercom told by the keyword's job (the contact's attribute, a note naming the teammate).
 */
export async function optOutFromPanel(deps: BridgeDeps, ctx: PanelContext): Promise<RevocationOutcome> {
  const found = await pendingOf(deps, ctx)
  if ('kind' in found) return found
  const { phone, request } = found
  const conversationId = ctx.conversationId ?? request.intercom_conversation_id
  const now = deps.clock.now()
  // The ledger keeps the customer's words as written (the phrase is only what matched).
  const asked = await getMessage(deps.store.db, request.message_id)
  const event = {
    keyword: 'opt_out' as const,
    messageId: request.message_id,
    phone,
    contactId: ctx.contact.id,
    conversationId: conversationId ?? '',
    by: ctx.adminName ?? 'A teammate',
  }
  await deps.store.run(
    ...setConsent(
      phone,
      {
        state: 'opted_out',
        source: `teammate:${ctx.adminId ?? 'unknown'}`,
        // The words that asked to stop, and who acted on them.
        evidence: {
          text: asked?.body || request.phrase,
          messageSid: asked?.twilio_sid ?? null,
          actor: ctx.adminName ?? ctx.adminId ?? null,
          conversationId: conversationId ?? null,
          contactId: ctx.contact.id,
        },
      },
      now,
    ),
    resolveRevocations(phone, 'opted_out', now),
    ...(conversationId
      ? [enqueueTask(keywordTask, event, { key: keywordTask.keys.teammate(request.id), queueKey: queues.phone(phone) }, now)]
      : []),
  )
  return { kind: 'opted_out', phone }
}

/** "Not a request": a teammate read the text and it does not ask to stop texts. */
export async function dismissRevocation(deps: BridgeDeps, ctx: PanelContext): Promise<RevocationOutcome> {
  const found = await pendingOf(deps, ctx)
  if ('kind' in found) return found
  await deps.store.run(resolveRevocations(found.phone, `dismissed:${ctx.adminId ?? 'unknown'}`, deps.clock.now()))
  return { kind: 'dismissed' }
}
