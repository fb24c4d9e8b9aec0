/**
 * Ordering keys, shared by every task about the same thing: the work about one phone, one
 * conversation or one contact runs one job at a time, in the order it was queued, whichever task
 * it is. A job's own key (once-only while it exists) is declared with its task (`defineTask`'s keys).
 */
export const queues = {
  phone: (phone: string) => `phone:${phone}`,
  conversation: (conversationId: string) => `conversation:${conversationId}`,
  contact: (contactId: string) => `contact:${contactId}`,
}
