import type { BridgeDeps } from '../server/bridge/deps.js'
import { insertMacro, macroChoices, previewFromPanel } from '../server/bridge/compose.js'
import { loadPanel, sendFromPanel, type PanelContext } from '../server/bridge/sidebar.js'
import { insertFlash, MACRO_OPTION, macroPicker, PLAIN_BODY, PREVIEW_BODY, previewPanel } from './compose-views.js'
import { inboxPanel, REFRESH_AGAIN, sendFlash, type PanelFlash } from './inbox-views.js'
import type { CanvasResponse } from './schema.js'
import { typedValue, type CanvasRequest, type SignedCanvas } from './signed.js'

/** A composer button: one bridge function, whose outcome is a screen of its own or the panel. */
type Screen = (deps: BridgeDeps, ctx: PanelContext, signed: SignedCanvas) => Promise<CanvasResponse>

const storedText = (r: CanvasRequest, key: string) => {
  const value = r.current_canvas?.stored_data?.[key]
  return typeof value === 'string' ? value : null
}

const panel = async (deps: BridgeDeps, ctx: PanelContext, flash: PanelFlash) => inboxPanel(await loadPanel(deps, ctx.contact), flash)

/** The text the Preview showed, sent as it is; the Preview again (text as typed) when it is not there. */
async function preview(deps: BridgeDeps, ctx: PanelContext, text: string): Promise<CanvasResponse> {
  const outcome = await previewFromPanel(deps, ctx, text)
  return outcome.kind === 'preview' ? previewPanel(outcome) : panel(deps, ctx, sendFlash(outcome, text))
}

/** The contact as a template sees them: the Canvas Kit request's contact (their name is their own words). */
function templateContact(signed: SignedCanvas) {
  const p = signed.person as { name?: unknown; custom_attributes?: Record<string, unknown> | null } | null
  return { name: typeof p?.name === 'string' ? p.name : null, custom_attributes: p?.custom_attributes ?? null }
}

export const COMPOSE_SCREENS: Record<string, Screen> = {
  choose_macro: async (deps, ctx) => macroPicker(await macroChoices(deps, ctx)),
  macro_search: async (deps, ctx, s) => {
    const search = typedValue(s.request, 'macro_search').slice(0, 100)
    return macroPicker(await macroChoices(deps, ctx, search), search)
  },
  insert_macro: async (deps, ctx, s) => {
    const chosen = typedValue(s.request, 'macro_id')
    if (!chosen.startsWith(MACRO_OPTION) || chosen === `${MACRO_OPTION}none`) return macroPicker(await macroChoices(deps, ctx))
    const outcome = await insertMacro(deps, ctx, templateContact(s), chosen.slice(MACRO_OPTION.length))
    return panel(deps, ctx, insertFlash(outcome))
  },
  preview_sms: (deps, ctx, s) => preview(deps, ctx, typedValue(s.request, 'sms_body')),
  use_plain: async (deps, ctx, s) => {
    const plain = storedText(s.request, PLAIN_BODY)
    return plain === null ? panel(deps, ctx, REFRESH_AGAIN) : preview(deps, ctx, plain)
  },
  edit_sms: async (deps, ctx, s) => panel(deps, ctx, { draft: storedText(s.request, PREVIEW_BODY) ?? '' }),
  send_previewed: async (deps, ctx, s) => {
    const text = storedText(s.request, PREVIEW_BODY)
    if (text === null) return panel(deps, ctx, REFRESH_AGAIN)
    return panel(deps, ctx, sendFlash(await sendFromPanel(deps, ctx, text), text))
  },
}
