import type { Macro } from '../clients/intercom.js'
import { UpstreamError } from '../../shared/errors.js'
import { renderTemplate, templateValues, type TemplateContact } from '../../shared/template.js'
import type { BridgeDeps } from './deps.js'
import { estimateText, type TextEstimate } from './estimate.js'
import { checkPanelText, type PanelContext, type SendOutcome } from './sidebar.js'

/**
 * The sidebar's composer: the macros a teammate may use, a chosen macro rendered for this contact,
 * and the Preview (the estimate) before Send. Macros are read from Intercom only when the teammate
 * asks for them (the panel itself reads only our database); what a button returns is an outcome
 * that canvas/compose-views.ts puts into words.
 */

export type MacroChoices =
  /** `total`: how many match, of which `macros` are the newest MAX_MACRO_CHOICES. */
  | { kind: 'macros'; macros: Array<{ id: string; name: string }>; total: number }
  /** None the teammate may use (visible to everyone or to one of their teams, offered in the inbox). */
  | { kind: 'none' }
  | { kind: 'unavailable'; error: string }

export type InsertOutcome =
  | { kind: 'inserted'; name: string; body: string }
  /** Deleted (or hidden from the token's admin), not one of this teammate's, or without text. */
  | { kind: 'unavailable'; reason: 'gone' | 'not_theirs' | 'empty' }
  | { kind: 'upstream'; error: string }

export type PreviewOutcome = { kind: 'preview'; body: string; estimate: TextEstimate } | Exclude<SendOutcome, { kind: 'queued' }>

/** Whether a teammate in these teams may use the macro from the inbox, as Intercom decides it. */
export function usableBy(macro: Macro, teamIds: readonly string[]): boolean {
  const visible = macro.visibleTo === 'everyone' || macro.teamIds.some((id) => teamIds.includes(id))
  return visible && (macro.availableOn.length === 0 || macro.availableOn.includes('inbox'))
}

async function teamsOf(deps: BridgeDeps, ctx: PanelContext): Promise<string[]> {
  return ctx.adminId ? ((await deps.intercom.teamIdsOf(ctx.adminId)) ?? []) : []
}

/** A Canvas Kit dropdown takes at most 10 options: one says "choose", the rest are macros. */
export const MAX_MACRO_CHOICES = 9

/** "Use a macro" (and "Find"): the macros this teammate may use whose name has `search`, newest first. */
export async function macroChoices(deps: BridgeDeps, ctx: PanelContext, search = ''): Promise<MacroChoices> {
  const wanted = search.trim().toLowerCase()
  try {
    const teamIds = await teamsOf(deps, ctx)
    const macros = (await deps.intercom.listMacros()).filter((m) => usableBy(m, teamIds) && m.name.toLowerCase().includes(wanted))
    if (!macros.length) return { kind: 'none' }
    const shown = macros.slice(0, MAX_MACRO_CHOICES).map(({ id, name }) => ({ id, name }))
    return { kind: 'macros', macros: shown, total: macros.length }
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    return { kind: 'unavailable', error: err.message }
  }
}

/**
 * "Insert": the macro as it is now (read again: it may have changed or gone since the list), checked
 * against the teammate's teams, its `body_text` rendered for this contact (their values made plain).
 */
export async function insertMacro(deps: BridgeDeps, ctx: PanelContext, contact: TemplateContact, macroId: string): Promise<InsertOutcome> {
  try {
    const macro = await deps.intercom.getMacro(macroId)
    if (!macro) return { kind: 'unavailable', reason: 'gone' }
    if (!usableBy(macro, await teamsOf(deps, ctx))) return { kind: 'unavailable', reason: 'not_theirs' }
    const body = renderTemplate(macro.bodyText ?? '', templateValues(contact))
    return body ? { kind: 'inserted', name: macro.name, body } : { kind: 'unavailable', reason: 'empty' }
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    return { kind: 'upstream', error: err.message }
  }
}

/** "Preview": the same checks as Send, then what the text will be: characters, encoding, segments, price. */
export async function previewFromPanel(deps: BridgeDeps, ctx: PanelContext, text: string): Promise<PreviewOutcome> {
  const checked = await checkPanelText(deps, ctx, text)
  if ('kind' in checked) return checked
  const estimate = await estimateText(deps, { phone: checked.phone, body: checked.body, mediaCount: 0 })
  return { kind: 'preview', body: checked.body, estimate }
}
