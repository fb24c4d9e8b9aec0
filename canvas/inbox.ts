import type { FastifyPluginAsync } from 'fastify'
import type { BridgeDeps } from '../server/bridge/deps.js'
import { mergeFromPanel } from '../server/bridge/links.js'
import { loadPanel, savePhone, sendFromPanel, welcomeFromPanel, type PanelContact, type PanelContext } from '../server/bridge/sidebar.js'
import { dismissRevocation, optOutFromPanel } from '../server/bridge/revocations.js'
import { answersProbes } from '../shared/http.js'
import {
  REFRESH_AGAIN,
  TYPE_AGAIN,
  detailsPanel,
  inboxPanel,
  mergeFlash,
  revocationFlash,
  savePhoneFlash,
  sendFlash,
  welcomeFlash,
  type PanelFlash,
} from './inbox-views.js'
import type { CanvasResponse } from './schema.js'
import { COMPOSE_SCREENS } from './compose.js'
import { SCHEDULE, SCHEDULE_BUTTONS } from './schedule.js'
import { signedCanvas, typedValue, type CanvasRequest, type Person, type SignedCanvas } from './signed.js'

/**
 * The contact as the bridge reads them. A `customer` says "lead" in `type`; a `type` of "user" is not
 * taken as the role (Messenger's `user` is any visitor), so an unknown role is never a user's.
 */
function panelContact(p: Person): PanelContact {
  const role = p.role ?? (p.type === 'lead' ? 'lead' : null)
  return { id: p.id, role, phone: p.phone ?? null, custom_attributes: p.custom_attributes ?? null }
}

function panelContext({ request: r, person }: SignedCanvas): PanelContext {
  return {
    contact: panelContact(person!),
    conversationId: r.conversation?.id ?? null,
    adminId: r.admin?.id ?? null,
    adminName: r.admin?.name ?? null,
  }
}

/** A button: one bridge function, whose outcome the panel (re-read from our database) says. */
type Button = (deps: BridgeDeps, ctx: PanelContext, r: CanvasRequest) => Promise<PanelFlash>

const stored = (r: CanvasRequest, key: string) => r.current_canvas?.stored_data?.[key]

const BUTTONS: Record<string, Button> = {
  send_welcome: async (deps, ctx) => welcomeFlash(await welcomeFromPanel(deps, ctx)),
  save_phone: async (deps, ctx, r) => savePhoneFlash(await savePhone(deps, ctx, typedValue(r, 'phone_input'))),
  save_phone_anyway: async (deps, ctx, r) => {
    const phone = stored(r, 'take_over')
    return typeof phone === 'string' ? savePhoneFlash(await savePhone(deps, ctx, phone, { takeOver: true })) : TYPE_AGAIN
  },
  // The teammate vouches for the number on the contact's profile, as Intercom sent it now.
  confirm_phone: async (deps, ctx) => savePhoneFlash(await savePhone(deps, ctx, ctx.contact.phone ?? '')),
  opt_out_number: async (deps, ctx) => revocationFlash(await optOutFromPanel(deps, ctx)),
  dismiss_revocation: async (deps, ctx) => revocationFlash(await dismissRevocation(deps, ctx)),
  merge_contact: async (deps, ctx, r) => {
    const into = stored(r, 'merge_into')
    return typeof into === 'string' ? mergeFlash(await mergeFromPanel(deps, ctx, into)) : REFRESH_AGAIN
  },
}

/** "Send SMS" also says the segments the text takes. */
async function send(deps: BridgeDeps, ctx: PanelContext, r: CanvasRequest): Promise<CanvasResponse> {
  const text = typedValue(r, 'sms_body')
  const outcome = await sendFromPanel(deps, ctx, text)
  return inboxPanel(await loadPanel(deps, ctx.contact), sendFlash(outcome, text), outcome.kind === 'queued' ? outcome.segments : undefined)
}

/** The panel after a submit: a button's outcome, Details, or (Refresh, anything else) the panel. */
async function submit(deps: BridgeDeps, signed: SignedCanvas): Promise<CanvasResponse> {
  const ctx = panelContext(signed)
  const component = signed.request.component_id ?? ''
  if (component === 'send_sms') return send(deps, ctx, signed.request)
  if (component === 'details') return detailsPanel(await loadPanel(deps, ctx.contact))
  if (Object.hasOwn(COMPOSE_SCREENS, component)) return COMPOSE_SCREENS[component]!(deps, ctx, signed)
  if (Object.hasOwn(SCHEDULE, component)) return SCHEDULE[component]!(deps, ctx, signed.request)
  const flash = Object.hasOwn(BUTTONS, component) ? await BUTTONS[component]!(deps, ctx, signed.request) : {}
  return inboxPanel(await loadPanel(deps, ctx.contact), flash)
}

/**
 * The SMS panel in the inbox sidebar (Canvas Kit). Every request passes the signed hook
 * (signed.ts); a submit runs the button's bridge function and answers the panel re-read from our
 * database, with the outcome in words.
 */
const inbox: FastifyPluginAsync = async (app) => {
  await app.register(signedCanvas, { effectful: ['send_sms', 'send_previewed', ...Object.keys(BUTTONS), ...Object.keys(SCHEDULE_BUTTONS)] })
  for (const path of ['/canvas/inbox/initialize', '/canvas/inbox/submit']) answersProbes(app, path, 'Intercom Canvas Kit')
  const deps = app.bridge

  app.post('/canvas/inbox/initialize', async (req) => inboxPanel(await loadPanel(deps, panelContact(req.canvas!.person!))))

  app.post('/canvas/inbox/submit', async (req) => submit(deps, req.canvas!))
}

export default inbox
