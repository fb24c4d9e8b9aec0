import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { recordReceipt } from '../shared/db/receipts.js'
import { signedBy } from '../server/routes/signed-by.js'
import { issueNonce, nonceIsFresh } from './nonce.js'
import type { CanvasResponse } from './schema.js'
import { errorCanvas } from './views.js'

// What the bridge reads from Canvas Kit requests. Intercom's docs call the contact both `contact` and
// `customer` (and Messenger submits carry `user`): any of them will do.
const person = z.looseObject({
  id: z.string().min(1),
  type: z.string().nullish(),
  role: z.string().nullish(),
  phone: z.string().nullable().optional(),
  custom_attributes: z.record(z.string(), z.unknown()).nullish().catch(null),
})
const canvasRequest = z.looseObject({
  workspace_id: z.string().nullish(),
  admin: z
    .looseObject({ id: z.union([z.string(), z.number()]).transform(String).optional(), name: z.string().nullable().optional() })
    .nullable()
    .optional(),
  conversation: z
    .looseObject({ id: z.union([z.string(), z.number()]).transform(String) })
    .nullable()
    .optional(),
  contact: person.nullable().optional(),
  customer: person.nullable().optional(),
  user: person.nullable().optional(),
  component_id: z.string().optional(),
  input_values: z.record(z.string(), z.unknown()).nullable().optional(),
  current_canvas: z.looseObject({ stored_data: z.record(z.string(), z.unknown()).nullish() }).nullish(),
})
export type CanvasRequest = z.infer<typeof canvasRequest>
export type Person = z.infer<typeof person>

/** A request that passed the hook: signed, from our workspace, parsed, about `person` (when the route needs one). */
export interface SignedCanvas {
  request: CanvasRequest
  person: Person | null
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the signed Canvas Kit hook (canvas/signed.ts) once a request passed it. */
    canvas: SignedCanvas | null
  }
  interface FastifyContextConfig {
    /** A Canvas Kit route that renders for nobody in particular (the Messenger card's initialize). */
    canvasForAnyone?: boolean
  }
}

/** A typed value from the request's inputs; '' when absent or not text. */
export function typedValue(r: CanvasRequest, key: string): string {
  const value = r.input_values?.[key]
  return typeof value === 'string' ? value : ''
}

/**
 * The largest Canvas Kit request taken. Captured ones are under 2 KB; a submit carries the canvas it
 * was clicked in (five texts of up to 1600 characters at most) and the typed values.
 */
export const CANVAS_BODY_LIMIT = 64 * 1024

/** Answers sent without a nonce: to a request from another workspace, or about nobody. */
const withoutNonce = new WeakSet<object>()
const bare = (response: CanvasResponse) => (withoutNonce.add(response), response)

const SOMETHING_WRONG = 'Something went wrong. Try again in a moment.'

export interface SignedCanvasOptions {
  /** Buttons whose submit changes something: each signed request of theirs takes effect once. */
  effectful: readonly string[]
}

/**
 * Every canvas carries a fresh nonce in its stored data: its issue time, random bytes and our MAC
 * (nonce.ts). Intercom sends it back in `current_canvas` with the next submit. A replayed submit
 * carries a nonce already used (its receipt) or, once receipts are pruned, one long out of date.
 */
function withNonce(payload: unknown, issue: () => string): unknown {
  if (typeof payload !== 'object' || payload === null || !('canvas' in payload) || withoutNonce.has(payload)) return payload
  const canvas = (payload as CanvasResponse).canvas as { stored_data?: Record<string, unknown> }
  canvas.stored_data = { ...canvas.stored_data, nonce: issue() }
  return payload
}

/** Serves our workspace, a request about someone (unless the route renders for anyone), each effectful submit once. */
async function admit(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply, effectful: ReadonlySet<string>): Promise<void> {
  const parsed = canvasRequest.safeParse(req.body)
  // Intercom signs for the app, whichever workspace installed it: only ours is served.
  if (parsed.success && parsed.data.workspace_id !== (await app.bridge.intercom.workspaceId())) {
    req.log.warn({ workspace: String(parsed.data.workspace_id ?? '').slice(0, 64) }, 'canvas request from another workspace refused')
    return void reply.code(403).send(bare(errorCanvas('This app is not set up for this workspace.')))
  }
  const person = parsed.success ? (parsed.data.contact ?? parsed.data.customer ?? parsed.data.user ?? null) : null
  if (!parsed.success || (!person && !req.routeOptions.config.canvasForAnyone))
    return void reply.send(bare(errorCanvas('This request did not say which contact it is about.')))
  req.canvas = { request: parsed.data, person }
  const component = parsed.data.component_id
  if (!component || !effectful.has(component)) return
  const nonce = parsed.data.current_canvas?.stored_data?.nonce
  const at = app.bridge.clock.now()
  if (!nonceIsFresh(app.config.intercom.clientSecret, nonce, at))
    return void reply.send(errorCanvas('This view is out of date. Refresh and try again.'))
  const fresh = await app.store.transaction((trx) => recordReceipt(trx, 'canvas', nonce, at))
  if (!fresh) return void reply.send(errorCanvas('That was already done. Refresh to see where things stand.'))
}

/**
 * The hook every Canvas Kit route of an app sits behind (registered by each app's plugin, so it
 * applies to that app's routes). Every POST is signed (X-Body-Signature, else 401 as JSON), must come
 * from our workspace and name the contact it is about; an effectful submit carries a nonce that is
 * ours, young and unused. Every answer is a canvas, errors included, and carries a fresh nonce.
 */
export const signedCanvas = fp<SignedCanvasOptions>(
  async (app, opts) => {
    const secret = app.config.intercom.clientSecret
    const effectful = new Set(opts.effectful)
    // An unsigned request never reaches a canvas: 401, as JSON.
    const signed = signedBy(app, 'canvas', { bodyLimit: CANVAS_BODY_LIMIT })
    const posted = (check: (req: FastifyRequest) => Promise<void>) => async (req: FastifyRequest) => {
      // The probes (GET, HEAD) answer a sentence to anyone: see answersProbes.
      if (req.method === 'POST') await check(req)
    }
    app.decorateRequest('canvas', null)
    app.addHook('onRequest', posted(signed.onRequest))
    app.addHook('preValidation', posted(signed.preValidation))

    /** Checks the workspace, the contact and a submit's nonce; sets `req.canvas` or answers. */
    app.addHook('preHandler', async (req, reply) => {
      if (req.method !== 'POST') return
      try {
        await admit(app, req, reply, effectful)
      } catch (err) {
        req.log.error({ err }, 'canvas request failed')
        return reply.send(errorCanvas(SOMETHING_WRONG))
      }
    })

    // A handler that throws still answers a canvas; errors before the hook (signature, JSON, size)
    // go on to the app's error handler.
    app.setErrorHandler((err, req, reply) => {
      if (!req.canvas) throw err
      req.log.error({ err }, 'canvas request failed')
      return reply.send(errorCanvas(SOMETHING_WRONG))
    })

    app.addHook('preSerialization', async (_req, _reply, payload: unknown) =>
      withNonce(payload, () => issueNonce(secret, app.bridge.clock.now())),
    )
  },
  { name: 'signed-canvas' },
)
