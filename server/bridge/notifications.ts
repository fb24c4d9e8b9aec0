import { noteUnhandledTopic } from '../../shared/db/cache.js'
import { applyConversationState } from '../../shared/db/contacts.js'
import { recordReceipt } from '../../shared/db/receipts.js'
import { requestAutomated, sendKeys } from './automated.js'
import type { BridgeDeps } from './deps.js'
import { queueReplies, type ReplyPart } from './outbound.js'
import { erasePersonInTx } from './privacy.js'

/** The webhook topics the bridge handles: `sms-bridge setup` tells the operator to tick these. */
export const WEBHOOK_TOPICS = [
  'conversation.admin.replied',
  'conversation.operator.replied',
  'conversation.admin.closed',
  'conversation.admin.opened',
  'contact.user.created',
  'contact.lead.created',
  'contact.deleted',
] as const
/**
 * Handled when ticked, though not needed: a reply that assigns the conversation arrives on these as
 * well as on conversation.admin.replied (captured notifications carry the same part), and the part id
 * makes it one text whichever arrives first.
 */
const ALSO_HANDLED = ['conversation.admin.assigned', 'conversation.admin.open.assigned']
const TOPICS = new Set<string>([...WEBHOOK_TOPICS, ...ALSO_HANDLED])
/** Topics whose item is a conversation with new parts that may be a teammate's words to the customer. */
const REPLY_TOPICS = new Set([
  'conversation.admin.replied',
  'conversation.operator.replied',
  'conversation.admin.closed',
  'conversation.admin.opened',
  ...ALSO_HANDLED,
])
const CONTACT_TOPICS = new Set(['contact.user.created', 'contact.lead.created'])
/** A contact deleted in Intercom (a person's erasure there): its minimal item names the contact. */
const DELETED_TOPIC = 'contact.deleted'

/** Whether the bridge acts on this topic (only then is the notification's item read). */
export function handlesTopic(topic: string): boolean {
  return TOPICS.has(topic)
}

/** An Intercom notification, checked and parsed by the route: what the bridge needs of it. */
export interface IntercomNotification {
  /** The notification's id, or a key made of its item and time when Intercom sent none. */
  receipt: string
  topic: string
  /** The item's time (ms): when the state it describes held. */
  at: number
  /** The conversation or contact id. */
  itemId: string | null
  /** The conversation's state, when the notification says it. */
  state: { closed: boolean } | null
  /** A contact's phone, as the contact item carries it (contact topics). */
  phone: string | null
  /** The conversation's new parts (conversation topics). */
  parts: ReplyPart[]
}

export type NotificationOutcome = { kind: 'ignored'; topic: string } | { kind: 'recorded' }

/**
 * Records one notification and queues what it asks for, in one transaction: a welcome for a new
 * contact, the erasure of a deleted one, the conversation's open/closed state, a text for each
 * teammate reply. A redelivery (the
 * same receipt) changes nothing. A topic ticked by mistake is only counted, for `doctor`.
 */
export async function recordNotification(
  deps: Pick<BridgeDeps, 'store' | 'config' | 'metrics' | 'clock'>,
  event: IntercomNotification,
): Promise<NotificationOutcome> {
  if (!handlesTopic(event.topic)) {
    // An error answer would count towards Intercom pausing the whole subscription (1,000 in 15
    // minutes), so it is answered 200 with nothing stored but a count, which /metrics shows and
    // `sms-bridge doctor` names as a topic to untick.
    const topic = event.topic.replace(/[^\w.-]/g, '').slice(0, 100) || 'unnamed'
    deps.metrics.unhandledTopics.inc({ topic })
    await deps.store.transaction((trx) => noteUnhandledTopic(trx, topic))
    return { kind: 'ignored', topic }
  }
  await deps.store.transaction(async (trx) => {
    if (!(await recordReceipt(trx, 'intercom', event.receipt))) return
    const itemId = event.itemId
    if (!itemId) return
    if (event.topic === DELETED_TOPIC) {
      await erasePersonInTx(trx, { contactId: itemId }, event.at)
      return
    }
    if (CONTACT_TOPICS.has(event.topic)) {
      if (!deps.config.welcome.template) return
      await requestAutomated(
        trx,
        { key: sendKeys.welcome(itemId), kind: 'welcome', contactId: itemId, phone: event.phone, requestedBy: event.topic },
        deps.clock.now(),
      )
      return
    }
    if (!REPLY_TOPICS.has(event.topic)) return
    const state = event.state ?? (event.topic === 'conversation.admin.closed' ? { closed: true } : null)
    if (state) await applyConversationState(trx, itemId, { closed: state.closed, at: event.at })
    await queueReplies(trx, deps.config, { conversationId: itemId, parts: event.parts, now: deps.clock.now() })
  })
  return { kind: 'recorded' }
}
