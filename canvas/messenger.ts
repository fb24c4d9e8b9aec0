import type { FastifyPluginAsync } from 'fastify'
import type { BridgeDeps } from '../server/bridge/deps.js'
import { confirmFromMessenger, subscribeFromMessenger } from '../server/bridge/messenger.js'
import { resendCode } from '../server/bridge/verification.js'
import { answersProbes } from '../shared/http.js'
import { confirmAnswer, messengerCard, resendAnswer, subscribeAnswer } from './messenger-views.js'
import type { CanvasResponse } from './schema.js'
import { signedCanvas, typedValue, type CanvasRequest } from './signed.js'

/** A button: one bridge function for the visitor, whose outcome the card says. */
type Button = (deps: BridgeDeps, visitorId: string, r: CanvasRequest) => Promise<CanvasResponse>

/** The verification the card's code step is about, as it stored it (0: none). */
function verificationOf(r: CanvasRequest): number {
  const stored = Number(r.current_canvas?.stored_data?.verification)
  return Number.isSafeInteger(stored) && stored > 0 ? stored : 0
}

function agreed(r: CanvasRequest): boolean {
  const consent = r.input_values?.consent
  return Array.isArray(consent) ? consent.includes('agree') : consent === 'agree' || consent === true
}

const BUTTONS: Record<string, Button> = {
  subscribe: async (deps, visitorId, r) =>
    subscribeAnswer(await subscribeFromMessenger(deps, visitorId, typedValue(r, 'phone'), agreed(r)), typedValue(r, 'phone')),
  verify: async (deps, visitorId, r) =>
    confirmAnswer(await confirmFromMessenger(deps, visitorId, verificationOf(r), typedValue(r, 'code').slice(0, 32)), verificationOf(r)),
  resend: async (deps, visitorId, r) => resendAnswer(await resendCode(deps, visitorId, verificationOf(r)), verificationOf(r)),
}

/**
 * The "continue by SMS" Messenger card (Canvas Kit). Every request passes the signed hook
 * (signed.ts); the visitor is whoever the submit names, and everything they type is an outsider's.
 */
const messenger: FastifyPluginAsync = async (app) => {
  await app.register(signedCanvas, { effectful: Object.keys(BUTTONS) })
  for (const path of ['/canvas/messenger/initialize', '/canvas/messenger/submit']) answersProbes(app, path, 'Intercom Canvas Kit')
  const deps = app.bridge

  // Intercom's Messenger initialize describes the teammate who placed the card and where it shows
  // (`context`, `card_creation_options`), never the visitor: the card needs nobody to render. The
  // visitor arrives with submit, as `user` (or `contact`).
  app.post('/canvas/messenger/initialize', { config: { canvasForAnyone: true } }, async () => messengerCard())

  app.post('/canvas/messenger/submit', async (req) => {
    const { request, person } = req.canvas!
    const button = Object.hasOwn(BUTTONS, request.component_id ?? '') ? BUTTONS[request.component_id!]! : null
    return button ? button(deps, person!.id, request) : messengerCard()
  })
}

export default messenger
