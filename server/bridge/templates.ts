import { UpstreamError } from '../../shared/errors.js'
import { renderTemplate, templateValues, type TemplateContact } from '../../shared/template.js'
import type { BridgeDeps } from './deps.js'

/**
 * Where a text's words come from: an Intercom macro (`macro:<id>`, read when the text is sent, so an
 * edit in Intercom counts and a deleted macro sends nothing) or a named template (SMS_TEMPLATES).
 * There is no other template store.
 */
export type TemplateRef = { kind: 'macro'; id: string } | { kind: 'named'; name: string }

const MACRO_REF = /^macro:([\w-]{1,64})$/

/** "macro:123" -> macro 123; anything else -> a named template (SMS_TEMPLATES). */
export function parseTemplateRef(text: string): TemplateRef {
  const id = MACRO_REF.exec(text.trim())?.[1]
  return id ? { kind: 'macro', id } : { kind: 'named', name: text.trim() }
}

/** Whether a setting's text (WELCOME_SMS_TEMPLATE, an SMS_TEMPLATES value) names a macro rather than being the words. */
export function macroIdIn(text: string): string | null {
  return MACRO_REF.exec(text.trim())?.[1] ?? null
}

export type Rendered = { ok: true; body: string } | { ok: false; reason: 'unknown_template' | 'macro_unavailable' | 'empty' }

/**
 * The one renderer: a macro's body_text or a named template, Intercom placeholder syntax, the contact's
 * values made plain, `variables` (untrusted: Workflows/Fin/broadcast inputs) made plain and capped
 * (shared/template.ts says how).
 */
export async function renderTemplateRef(
  deps: BridgeDeps,
  ref: TemplateRef,
  contact: TemplateContact,
  variables?: Record<string, string>,
): Promise<Rendered> {
  if (ref.kind === 'named') {
    const text = deps.config.templates.get(ref.name)
    return text === undefined ? { ok: false, reason: 'unknown_template' } : renderSetting(deps, text, contact, variables)
  }
  const words = await macroText(deps, ref.id)
  return words === null ? { ok: false, reason: 'macro_unavailable' } : rendered(words, contact, variables)
}

/** A setting's template (WELCOME_SMS_TEMPLATE, an SMS_TEMPLATES value): the words, or `macro:<id>`. */
export async function renderSetting(
  deps: BridgeDeps,
  text: string,
  contact: TemplateContact,
  variables?: Record<string, string>,
): Promise<Rendered> {
  const id = macroIdIn(text)
  return id ? renderTemplateRef(deps, { kind: 'macro', id }, contact, variables) : rendered(text, contact, variables)
}

function rendered(template: string, contact: TemplateContact, variables?: Record<string, string>): Rendered {
  const body = renderTemplate(template, templateValues(contact, variables))
  return body ? { ok: true, body } : { ok: false, reason: 'empty' }
}

/**
 * A macro's plain text, read now; null when Intercom has no such macro for the token's admin (deleted,
 * or hidden) or refuses to show it. A passing failure is thrown: the caller's job tries again.
 */
async function macroText(deps: BridgeDeps, id: string): Promise<string | null> {
  try {
    const macro = await deps.intercom.getMacro(id)
    return macro ? (macro.bodyText ?? '') : null
  } catch (err) {
    if (err instanceof UpstreamError && err.outcome === 'give_up') return null
    throw err
  }
}
