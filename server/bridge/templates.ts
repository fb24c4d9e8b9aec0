import type { Intercom } from 'intercom-client'
import { contactValues, renderTemplate } from '../../shared/template.js'
import { MAX_SMS_BODY } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'

// Contract B's interface, with named templates only, until the compose helper's file (macros,
// Intercom's placeholder syntax, variables) replaces this one.

export type TemplateRef = { kind: 'macro'; id: string } | { kind: 'named'; name: string }

/** "macro:123" -> macro 123; anything else -> a named template (SMS_TEMPLATES). */
export function parseTemplateRef(text: string): TemplateRef {
  const macro = /^macro:(.+)$/.exec(text.trim())
  return macro ? { kind: 'macro', id: macro[1]! } : { kind: 'named', name: text.trim() }
}

export type Rendered = { ok: true; body: string } | { ok: false; reason: 'unknown_template' | 'macro_unavailable' | 'empty' }

/** The one renderer (here: a named template with the contact's plain values). */
export async function renderTemplateRef(
  deps: BridgeDeps,
  ref: TemplateRef,
  contact: Intercom.Contact,
  _variables?: Record<string, string>,
): Promise<Rendered> {
  if (ref.kind === 'macro') return { ok: false, reason: 'macro_unavailable' }
  const template = deps.config.templates.get(ref.name)
  if (template === undefined) return { ok: false, reason: 'unknown_template' }
  const body = renderTemplate(template, contactValues(contact)).slice(0, MAX_SMS_BODY)
  return body.trim() ? { ok: true, body } : { ok: false, reason: 'empty' }
}
