import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { markConversationClosed } from '../../shared/db/contacts.js'
import { recordReceipt } from '../../shared/db/receipts.js'
import { verifyIntercomWebhook } from '../../shared/signatures.js'
import { keepRawJson } from './raw-json.js'
import { queueReplies, type ReplyPart } from '../bridge/outbound.js'
import { requestAutomated } from '../bridge/automated.js'

const part = z.looseObject({
  id: z.string(),
  part_type: z.string(),
  body: z.string().nullable().optional(),
  created_at: z.number().optional(),
  author: z.looseObject({ type: z.string(), id: z.string().optional() }),
  attachments: z.array(z.looseObject({ url: z.string(), content_type: z.string().optional(), name: z.string().optional() })).optional(),
})

const notification = z.looseObject({
  type: z.literal('notification_event'),
  id: z.string().min(1),
  topic: z.string().min(1),
  created_at: z.number().optional(),
  data: z.looseObject({
    item: z
      .looseObject({
        id: z.union([z.string(), z.number()]).transform(String).optional(),
        conversation_parts: z.looseObject({ conversation_parts: z.array(part) }).optional(),
      })
      .nullable()
      .optional(),
  }),
})

/** The webhook topics the bridge handles: `sms-bridge setup` tells the operator to tick these. */
export const WEBHOOK_TOPICS = [
  'conversation.admin.replied',
  'conversation.operator.replied',
  'conversation.admin.closed',
  'contact.user.created',
  'contact.lead.created',
] as const
const TOPICS = new Set<string>(WEBHOOK_TOPICS)

/** Intercom webhooks. Checked, stored and queued in one transaction, answered at once. */
const intercom: FastifyPluginAsync = async (app) => {
  keepRawJson(app)

  app.post('/intercom/webhooks', async (req, reply) => {
    const signature = req.headers['x-hub-signature']
    if (!req.rawBody || !verifyIntercomWebhook(app.config.intercom.clientSecret, req.rawBody, typeof signature === 'string' ? signature : undefined)) {
      return reply.code(401).send({ error: { code: 'bad_signature', message: 'The X-Hub-Signature header is missing or does not match.' } })
    }
    const parsed = notification.safeParse(req.body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      return reply.code(400).send({ error: { code: 'invalid_notification', message: `${issue.path.join('.')}: ${issue.message}` } })
    }
    const event = parsed.data
    // Intercom's "Send test" ping: answered, nothing to keep.
    if (event.topic === 'ping') return reply.code(200).send({ ok: true })
    if (!TOPICS.has(event.topic)) {
      // A clear answer in the app's webhook log, and nothing stored. Never 410: Intercom disables a
      // subscription that answers 410.
      return reply.code(422).send({
        error: { code: 'unhandled_topic', message: `The bridge does not handle the topic "${event.topic.slice(0, 100)}". Remove it from the app's webhook topics; the bridge uses ${WEBHOOK_TOPICS.join(', ')}.` },
      })
    }
    const item = event.data.item
    // The item is a conversation for conversation topics and a contact for contact topics.
    const conversationId = item?.id
    const queued = await app.store.write(async (trx) => {
      if (!(await recordReceipt(trx, 'intercom', event.id))) return 0
      if ((event.topic === 'contact.user.created' || event.topic === 'contact.lead.created') && conversationId) {
        if (!app.config.welcome.template) return 0
        const phone = (item as { phone?: unknown }).phone
        const { created } = await requestAutomated(trx, {
          key: `welcome:${conversationId}`,
          kind: 'welcome',
          contactId: conversationId,
          phone: typeof phone === 'string' ? phone : null,
          requestedBy: event.topic,
        })
        return created ? 1 : 0
      }
      if (event.topic === 'conversation.admin.closed' && conversationId) {
        await markConversationClosed(trx, conversationId, (event.created_at ?? Date.now() / 1000) * 1000)
        return 0
      }
      if (!['conversation.admin.replied', 'conversation.operator.replied'].includes(event.topic) || !conversationId) return 0
      const parts: ReplyPart[] = (item?.conversation_parts?.conversation_parts ?? []).map((p) => ({
        id: p.id,
        partType: p.part_type,
        body: p.body ?? '',
        authorType: p.author.type,
        attachments: (p.attachments ?? []).map((a) => ({ url: a.url, contentType: a.content_type ?? null, name: a.name ?? null })),
      }))
      return queueReplies(trx, app.config, conversationId, parts)
    })
    if (queued > 0) app.worker.wake()
    return reply.code(200).send({ ok: true })
  })
}

export default intercom
