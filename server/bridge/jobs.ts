import { z } from 'zod'
import type { Statement } from '../../shared/db/statement.js'
import { enqueue } from '../jobs/queue.js'

const id = z.string().min(1)
const rowId = z.number().int().positive()
const keyword = z.enum(['opt_out', 'opt_in', 'help'])

/** A teammate's conversation part, as the Intercom notification carried it. */
export const replyPart = z.object({
  id,
  partType: z.string(),
  body: z.string(),
  authorType: z.string(),
  attachments: z.array(z.object({ url: z.string().min(1), contentType: z.string().nullable(), name: z.string().nullable() })),
  /** A quick reply's buttons (`metadata.quick_reply_options`); absent for every other part. */
  options: z.array(z.object({ text: z.string().min(1), uuid: z.string().min(1) })).optional(),
})
export type ReplyPart = z.output<typeof replyPart>

/**
 * Every task the bridge queues, by name, with the payload it carries. Enqueueing checks the payload
 * against this at compile time; the worker validates it when it runs the job, so a stored payload
 * that no longer fits (written by an older version, or edited by hand) fails that job alone, clearly.
 */
export const TASK_PAYLOADS = {
  // lookFirst: the text may already be in Intercom (it came from Twilio's log, not its webhook).
  'inbound.deliver': z.object({ messageId: rowId, keyword: keyword.optional(), lookFirst: z.literal(true).optional() }),
  'conversation.tag': z.object({ conversationId: id }),
  'consent.keyword': z.object({ keyword, messageId: rowId, phone: id, contactId: id, conversationId: id }),
  'inbound.catchup': z.null(),
  'maintenance.prune': z.null(),
  'maintenance.checkpoint': z.null(),
  'outbound.reply': z.object({ conversationId: id, part: replyPart }),
  'outbound.notify_failure': z.object({ messageId: rowId }),
  'conversation.note': z.object({ conversationId: id, html: z.string().min(1) }),
  'conversation.mark_read': z.object({ conversationId: id }),
  'contact.sms_attributes': z.object({ contactId: id }),
  'contact.save_phone': z.object({ contactId: id, phone: id, consent: z.boolean(), conversationId: id.nullable() }),
  'contact.mark': z.object({ contactId: id, phone: id }),
  'contact.merge': z.object({ from: id, into: id, conversationId: id.nullable(), adminName: z.string().nullable() }),
  'automated.send': z.object({ key: id }),
  'automated.note': z.object({ key: id }),
  'canvas.send': z.object({ messageId: rowId, adminName: z.string().nullable() }),
  'canvas.note': z.object({ messageId: rowId, adminName: z.string().nullable() }),
  'privacy.redact': z.object({ sid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/) }),
} as const

export type TaskName = keyof typeof TASK_PAYLOADS
export type TaskPayload<N extends TaskName> = z.output<(typeof TASK_PAYLOADS)[N]>

export interface TaskOptions {
  /** While a job with this key exists (waiting, running or dead), queueing it again does nothing. */
  key?: string | undefined
  /** Jobs with the same ordering key run one at a time, in the order they were queued. */
  queueKey?: string | undefined
  runAt?: number | undefined
  maxAttempts?: number | undefined
}

/**
 * Queues a task, its payload checked: a statement to run with the writes the job is about, so it
 * exists exactly when they do (one row changed, or none when the key is taken). The store wakes the
 * worker once it commits.
 */
export function enqueueTask<N extends TaskName>(task: N, payload: TaskPayload<N>, options: TaskOptions = {}, now?: number): Statement {
  return enqueue({ task, payload, ...options }, now)
}
