import { findSmsConversation, setSmsConversation } from '../../shared/db/contacts.js'
import { maskPhone } from '../../shared/log.js'
import type { BridgeDeps } from './deps.js'
import { defaultSender } from './senders.js'

/**
 * The first part of a conversation the bridge opens for a text the team starts. Intercom's API has
 * three ways to open a conversation with a contact, and each shows something to someone:
 * - `POST /messages` (in_app or email, `create_conversation_without_contact_reply`) is an admin's
 *   message: Intercom shows it in the customer's Messenger or emails it. Refused: the customer must
 *   see the text once, on their phone, not a second copy elsewhere.
 * - `POST /tickets` with a back-office ticket type is hidden from the customer, but a ticket is not a
 *   conversation the customer's replies thread into (`replyAsContact`), and needs a ticket type made
 *   in the workspace first.
 * - `POST /conversations` as the contact (what the bridge already does for a customer's first text):
 *   the opening part is the contact's. Chosen, with an opening part that is plainly the bridge's
 *   marker, never our text put in the customer's mouth: the text itself is recorded as a note (the
 *   automated note path), which the customer never sees; Intercom sends no e-mail or push for a
 *   contact's own part. What remains: a contact who uses the Messenger sees this one line in their
 *   conversation list. Workflows and Fin rarely need it: they run in a conversation, which is adopted
 *   (connector-texts.ts `adoptConversation`).
 */
export function openingPart(phone: string): string {
  return `[SMS] Text messages with ${maskPhone(phone)} are kept in this conversation (opened by the SMS bridge).`
}

/**
 * The contact's SMS conversation, opened (and recorded with setSmsConversation) when there is none, so a
 * text the team starts (Workflow, broadcast, scheduled) is recorded where the customer's reply threads.
 * Callers run it in the contact's queue (`queues.contact`), so
 * two texts to a new contact never open two conversations.
 */
export async function ensureSmsConversation(
  deps: BridgeDeps,
  want: { contactId: string; phone: string; firstText: string },
): Promise<{ conversationId: string; opened: boolean }> {
  const existing = await findSmsConversation(deps.store.db, want.contactId)
  if (existing) return { conversationId: existing.intercom_conversation_id, opened: false }
  const conversationId = await open(deps, want)
  const { recorded } = defaultSender(deps.config)
  await deps.store.run(
    ...setSmsConversation({ contactId: want.contactId, conversationId, phone: want.phone, twilioNumber: recorded }, deps.clock.now()),
  )
  return { conversationId, opened: true }
}

async function open(deps: BridgeDeps, want: { contactId: string; phone: string }): Promise<string> {
  const contact = await deps.intercom.findContact(want.contactId)
  const role = contact?.role ?? 'lead'
  const started = await deps.intercom.startConversation(
    { role, id: want.contactId },
    openingPart(want.phone),
    Math.floor(deps.clock.now() / 1000),
    [],
  )
  return started.conversationId
}
