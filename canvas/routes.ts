import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { verifyCanvasSignature } from '../shared/signatures.js'
import type { BridgeDeps } from '../server/bridge/deps.js'
import { keepRawJson } from '../server/routes/raw-json.js'
import { answersProbes } from '../server/routes/probes.js'
import { loadPanel, savePhone, sendFromPanel, subscribeFromMessenger, welcomeFromPanel, type PanelContext } from './panel.js'
import type { CanvasResponse } from './schema.js'
import { detailsPanel, errorCanvas, inboxPanel, messengerCard, messengerDone } from './views.js'

// What the bridge reads from Canvas Kit requests. Intercom's docs call the contact both `contact` and
// `customer` (and Messenger submits carry `user`): any of them will do.
const person = z.looseObject({ id: z.string().min(1), phone: z.string().nullable().optional() })
const request = z.looseObject({
  admin: z.looseObject({ id: z.union([z.string(), z.number()]).transform(String).optional(), name: z.string().nullable().optional() }).nullable().optional(),
  conversation: z.looseObject({ id: z.union([z.string(), z.number()]).transform(String) }).nullable().optional(),
  contact: person.nullable().optional(),
  customer: person.nullable().optional(),
  user: person.nullable().optional(),
  component_id: z.string().optional(),
  input_values: z.record(z.string(), z.unknown()).nullable().optional(),
})
type CanvasRequest = z.infer<typeof request>

function who(r: CanvasRequest) {
  return r.contact ?? r.customer ?? r.user ?? null
}


/**
 * Canvas Kit endpoints: the SMS panel in the inbox sidebar and the "continue by SMS" Messenger card.
 * Every request is signed (X-Body-Signature); every answer is a canvas, errors included.
 */
export function canvasRoutes(deps: () => BridgeDeps): FastifyPluginAsync {
  return async (app) => {
    keepRawJson(app, 256 * 1024)

    for (const path of ['/canvas/inbox/initialize', '/canvas/inbox/submit', '/canvas/messenger/initialize', '/canvas/messenger/submit']) {
      answersProbes(app, path, 'Intercom Canvas Kit')
    }

    /** Checks the signature and parses the request; `render` gets the person it is about, when there is one. */
    async function handle(
      req: FastifyRequest,
      reply: FastifyReply,
      render: (r: CanvasRequest, person: { id: string; phone?: string | null | undefined } | null) => Promise<CanvasResponse>,
      { needsPerson = true } = {},
    ) {
      const signature = req.headers['x-body-signature']
      if (!req.rawBody || !verifyCanvasSignature(app.config.intercom.clientSecret, req.rawBody, typeof signature === 'string' ? signature : undefined)) {
        return reply.code(401).send({ error: { code: 'bad_signature', message: 'The X-Body-Signature header is missing or does not match.' } })
      }
      try {
        const parsed = request.safeParse(req.body)
        const contact = parsed.success ? who(parsed.data) : null
        if (!parsed.success || (needsPerson && !contact)) return reply.send(errorCanvas('This request did not say which contact it is about.'))
        return reply.send(await render(parsed.data, contact))
      } catch (err) {
        req.log.error({ err }, 'canvas request failed')
        return reply.send(errorCanvas('Something went wrong. Try again in a moment.'))
      }
    }

    const panelContext = (r: CanvasRequest, contact: { id: string; phone?: string | null | undefined }): PanelContext => ({
      contactId: contact.id,
      conversationId: r.conversation?.id ?? null,
      adminId: r.admin?.id ?? null,
      adminName: r.admin?.name ?? null,
      givenPhone: contact.phone ?? null,
    })

    app.post('/canvas/inbox/initialize', (req, reply) =>
      handle(req, reply, async (_r, contact) => inboxPanel(await loadPanel(deps(), contact!.id, contact!.phone))),
    )

    app.post('/canvas/inbox/submit', (req, reply) =>
      handle(req, reply, async (r, person) => {
        const contact = person!
        const d = deps()
        const ctx = panelContext(r, contact)
        const value = (key: string) => (typeof r.input_values?.[key] === 'string' ? (r.input_values[key] as string) : '')
        switch (r.component_id) {
          case 'send_sms': {
            const { flash, segments } = await sendFromPanel(d, ctx, value('sms_body'))
            return inboxPanel(await loadPanel(d, contact.id, contact.phone), flash, segments)
          }
          case 'send_welcome':
            return inboxPanel(await loadPanel(d, contact.id, contact.phone), await welcomeFromPanel(d, ctx))
          case 'save_phone': {
            const flash = await savePhone(d, ctx, value('phone_input'))
            return inboxPanel(await loadPanel(d, contact.id, contact.phone), flash)
          }
          case 'details':
            return detailsPanel(await loadPanel(d, contact.id, contact.phone))
          default:
            return inboxPanel(await loadPanel(d, contact.id, contact.phone))
        }
      }),
    )

    // Intercom's Messenger initialize describes the teammate who placed the card and where it shows
    // (`context`, `card_creation_options`), never the visitor: the card needs nobody to render. The
    // visitor arrives with submit, as `user` (or `contact`).
    app.post('/canvas/messenger/initialize', (req, reply) => handle(req, reply, async () => messengerCard(), { needsPerson: false }))

    app.post('/canvas/messenger/submit', (req, reply) =>
      handle(req, reply, async (r, person) => {
        const contact = person!
        if (r.component_id !== 'subscribe') return messengerCard()
        const typed = typeof r.input_values?.phone === 'string' ? r.input_values.phone : ''
        const consent = r.input_values?.consent
        const agreed = Array.isArray(consent) ? consent.includes('agree') : consent === 'agree' || consent === true
        const result = await subscribeFromMessenger(deps(), contact.id, typed, agreed)
        return result.ok ? messengerDone(result.phone) : messengerCard({ ...result, phone: typed })
      }),
    )
  }
}
