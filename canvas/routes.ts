import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { recordReceipt } from '../shared/db/receipts.js'
import { AppError } from '../shared/errors.js'
import { answersProbes, signedJson } from '../shared/http.js'
import { verifyCanvasSignature } from '../shared/signatures.js'
import type { CanvasActions, PanelContact, PanelContext } from './actions.js'
import { issueNonce, nonceIsFresh } from './nonce.js'
import type { CanvasResponse } from './schema.js'
import { detailsPanel, errorCanvas, inboxPanel, messengerCard, messengerCode, messengerDone } from './views.js'

// What the bridge reads from Canvas Kit requests. Intercom's docs call the contact both `contact` and
// `customer` (and Messenger submits carry `user`): any of them will do.
const person = z.looseObject({
  id: z.string().min(1),
  type: z.string().nullish(),
  role: z.string().nullish(),
  phone: z.string().nullable().optional(),
  custom_attributes: z.record(z.string(), z.unknown()).nullish().catch(null),
})
const request = z.looseObject({
  workspace_id: z.string().nullish(),
  admin: z.looseObject({ id: z.union([z.string(), z.number()]).transform(String).optional(), name: z.string().nullable().optional() }).nullable().optional(),
  conversation: z.looseObject({ id: z.union([z.string(), z.number()]).transform(String) }).nullable().optional(),
  contact: person.nullable().optional(),
  customer: person.nullable().optional(),
  user: person.nullable().optional(),
  component_id: z.string().optional(),
  input_values: z.record(z.string(), z.unknown()).nullable().optional(),
  current_canvas: z.looseObject({ stored_data: z.record(z.string(), z.unknown()).nullish() }).nullish(),
})
type CanvasRequest = z.infer<typeof request>
type Person = z.infer<typeof person>

/**
 * The contact as the bridge reads them. A `customer` says "lead" in `type`; a `type` of "user" is not
 * taken as the role (Messenger's `user` is any visitor), so an unknown role is never a user's.
 */
function panelContact(p: Person): PanelContact {
  const role = p.role ?? (p.type === 'lead' ? 'lead' : null)
  return { id: p.id, role, phone: p.phone ?? null, custom_attributes: p.custom_attributes ?? null }
}

function who(r: CanvasRequest) {
  return r.contact ?? r.customer ?? r.user ?? null
}

/**
 * The largest Canvas Kit request taken. Captured ones are under 2 KB; a submit carries the canvas it
 * was clicked in (five texts of up to 1600 characters at most) and the typed values.
 */
export const CANVAS_BODY_LIMIT = 64 * 1024

/** Buttons whose submit changes something: each signed request of theirs takes effect once. */
const EFFECTFUL = new Set(['send_sms', 'send_welcome', 'save_phone', 'save_phone_anyway', 'confirm_phone', 'merge_contact', 'subscribe', 'verify', 'resend'])

/**
 * Canvas Kit endpoints: the SMS panel in the inbox sidebar and the "continue by SMS" Messenger card.
 * Every request is signed (X-Body-Signature) and must come from our workspace; every answer is a
 * canvas, errors included.
 */
export function canvasRoutes(actions: CanvasActions, now: () => number = Date.now): FastifyPluginAsync {
  return async (app) => {
    // An unsigned request never reaches a canvas: 401, as JSON.
    const signed = signedJson(app, {
      header: 'x-body-signature',
      bodyLimit: CANVAS_BODY_LIMIT,
      verify: (raw, signature) => verifyCanvasSignature(app.config.intercom.clientSecret, raw, signature),
      refuse: (req, reason) => {
        app.refusals.note(req, { surface: 'canvas', reason, header: 'X-Body-Signature' })
        throw new AppError('bad_signature', 'The X-Body-Signature header is missing or does not match.', 401)
      },
    })

    /**
     * Every canvas carries a fresh nonce in its stored data: its issue time, random bytes and our MAC
     * (nonce.ts). Intercom sends it back in `current_canvas` with the next submit. A replayed submit
     * carries a nonce already used (its receipt) or, once receipts are pruned, one long out of date.
     */
    const withNonce = (response: CanvasResponse): CanvasResponse => {
      const canvas = response.canvas as { stored_data?: Record<string, unknown> }
      canvas.stored_data = { ...canvas.stored_data, nonce: issueNonce(app.config.intercom.clientSecret, now()) }
      return response
    }

    for (const path of ['/canvas/inbox/initialize', '/canvas/inbox/submit', '/canvas/messenger/initialize', '/canvas/messenger/submit']) {
      answersProbes(app, path, 'Intercom Canvas Kit')
    }

    /** Checks the workspace and a submit's nonce; `render` gets the person it is about, when there is one. */
    async function handle(
      req: FastifyRequest,
      reply: FastifyReply,
      render: (r: CanvasRequest, person: Person | null) => Promise<CanvasResponse>,
      { needsPerson = true } = {},
    ) {
      try {
        const parsed = request.safeParse(req.body)
        // Intercom signs for the app, whichever workspace installed it: only ours is served.
        if (parsed.success && parsed.data.workspace_id !== (await actions.workspaceId())) {
          req.log.warn({ workspace: String(parsed.data.workspace_id ?? '').slice(0, 64) }, 'canvas request from another workspace refused')
          return reply.code(403).send(errorCanvas('This app is not set up for this workspace.'))
        }
        const contact = parsed.success ? who(parsed.data) : null
        if (!parsed.success || (needsPerson && !contact)) return reply.send(errorCanvas('This request did not say which contact it is about.'))
        const component = parsed.data.component_id
        if (component && EFFECTFUL.has(component)) {
          const nonce = parsed.data.current_canvas?.stored_data?.nonce
          const at = now()
          if (!nonceIsFresh(app.config.intercom.clientSecret, nonce, at)) return reply.send(withNonce(errorCanvas('This view is out of date. Refresh and try again.')))
          const fresh = await app.store.transaction((trx) => recordReceipt(trx, 'canvas', nonce, at))
          if (!fresh) return reply.send(withNonce(errorCanvas('That was already done. Refresh to see where things stand.')))
        }
        return reply.send(withNonce(await render(parsed.data, contact)))
      } catch (err) {
        req.log.error({ err }, 'canvas request failed')
        return reply.send(withNonce(errorCanvas('Something went wrong. Try again in a moment.')))
      }
    }

    const panelContext = (r: CanvasRequest, contact: Person): PanelContext => ({
      contact: panelContact(contact),
      conversationId: r.conversation?.id ?? null,
      adminId: r.admin?.id ?? null,
      adminName: r.admin?.name ?? null,
    })

    app.post('/canvas/inbox/initialize', signed, (req, reply) =>
      handle(req, reply, async (_r, contact) => inboxPanel(await actions.loadPanel(panelContact(contact!)))),
    )

    app.post('/canvas/inbox/submit', signed, (req, reply) =>
      handle(req, reply, async (r, person) => {
        const contact = person!
        const ctx = panelContext(r, contact)
        const value = (key: string) => (typeof r.input_values?.[key] === 'string' ? (r.input_values[key] as string) : '')
        const panel = () => actions.loadPanel(ctx.contact)
        switch (r.component_id) {
          case 'send_sms': {
            const { flash, segments } = await actions.sendFromPanel(ctx, value('sms_body'))
            return inboxPanel(await panel(), flash, segments)
          }
          case 'send_welcome': {
            const flash = await actions.welcomeFromPanel(ctx)
            return inboxPanel(await panel(), flash)
          }
          case 'save_phone': {
            const flash = await actions.savePhone(ctx, value('phone_input'))
            return inboxPanel(await panel(), flash)
          }
          case 'save_phone_anyway': {
            const phone = r.current_canvas?.stored_data?.take_over
            const flash = typeof phone === 'string' ? await actions.savePhone(ctx, phone, { takeOver: true }) : { phoneError: 'Type the number again.' }
            return inboxPanel(await panel(), flash)
          }
          case 'confirm_phone': {
            // The teammate vouches for the number on the contact's profile, as Intercom sent it now.
            const flash = await actions.savePhone(ctx, ctx.contact.phone ?? '')
            return inboxPanel(await panel(), flash)
          }
          case 'merge_contact': {
            const into = r.current_canvas?.stored_data?.merge_into
            const flash = typeof into === 'string' ? await actions.mergeContact(ctx, into) : { error: 'Refresh and try again.' }
            return inboxPanel(await panel(), flash)
          }
          case 'details':
            return detailsPanel(await panel())
          default:
            return inboxPanel(await panel())
        }
      }),
    )

    // Intercom's Messenger initialize describes the teammate who placed the card and where it shows
    // (`context`, `card_creation_options`), never the visitor: the card needs nobody to render. The
    // visitor arrives with submit, as `user` (or `contact`).
    app.post('/canvas/messenger/initialize', signed, (req, reply) => handle(req, reply, async () => messengerCard(), { needsPerson: false }))

    app.post('/canvas/messenger/submit', signed, (req, reply) =>
      handle(req, reply, async (r, person) => {
        const contact = person!
        const stored = Number(r.current_canvas?.stored_data?.verification)
        const verificationId = Number.isSafeInteger(stored) && stored > 0 ? stored : 0
        switch (r.component_id) {
          case 'subscribe': {
            const typed = typeof r.input_values?.phone === 'string' ? r.input_values.phone : ''
            const consent = r.input_values?.consent
            const agreed = Array.isArray(consent) ? consent.includes('agree') : consent === 'agree' || consent === true
            const result = await actions.subscribe(contact.id, typed, agreed)
            return result.ok ? messengerCode({ phone: result.phone, verificationId: result.verificationId }) : messengerCard({ ...result, phone: typed.slice(0, 64) })
          }
          case 'verify': {
            const typed = typeof r.input_values?.code === 'string' ? r.input_values.code.slice(0, 32) : ''
            const checked = await actions.checkCode(contact.id, verificationId, typed)
            if (!checked.ok) {
              const v = checked.startAgain ? undefined : await actions.verification(contact.id, verificationId)
              return v ? messengerCode({ phone: v.phone, verificationId, error: checked.error }) : messengerCard({ phoneError: checked.error })
            }
            const done = await actions.completeSubscription(contact.id, checked.phone)
            return done.ok ? messengerDone(checked.phone) : messengerCard({ phoneError: done.error })
          }
          case 'resend': {
            const resent = await actions.resendCode(contact.id, verificationId)
            const v = !resent.ok && resent.startAgain ? undefined : await actions.verification(contact.id, verificationId)
            if (!v) return messengerCard({ phoneError: resent.ok ? undefined : resent.error })
            return messengerCode({ phone: v.phone, verificationId, ...(resent.ok ? { notice: 'A new code is on its way.' } : { error: resent.error }) })
          }
          default:
            return messengerCard()
        }
      }),
    )
  }
}
