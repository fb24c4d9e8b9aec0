import type { Intercom } from 'intercom-client'
import { contactValues, renderTemplate } from '../../shared/template.js'
import { MAX_SMS_BODY } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'

// Contract B (docs: helper-notes contracts6.md). This is the minimal version the connect helper needs:
// named templates only; the compose helper's version (macros, Intercom's placeholder syntax) replaces it.

export type TemplateRef = { kind: 'macro'; id: string } | { kind: 'named'; name: string }

/** "macro:123" -> macro 123; anything else -> a named template (SMS_TEMPLATES). */
export function parseTemplateRef(text: string): TemplateRef {
  const macro = /^macro:(\S+)$/.exec(text.trim())
  return macro ? { kind: 'macro', id: macro[1]! } : { kind: 'named', name: text.trim() }
}

export type Rendered = { ok: true; body: string } | { ok: false; reason: 'unknown_template' | 'macro_unavailable' | 'empty' }

/** The longest a variable from a Workflow, Fin or a broadcast may be in a text. */
export const MAX_VARIABLE = 40

/**
 * A variable as it may appear in a text, or null (the template's fallback is used): plain words,
 * at most MAX_VARIABLE characters, no link, address, markup or control character. Fin passes what a
 * customer typed: it must never make the team's number text someone a link.
 */
export function plainVariable(value: string): string | null {
  const v = value.normalize('NFC').replace(/\s+/g, ' ').trim()
  if (!v || v.length > MAX_VARIABLE) return null
  // eslint-disable-next-line no-control-regex
  if (/[<>{}\\`\u0000-\u001f\u007f]/.test(v)) return null
  // A scheme, "www.", an e-mail address, or anything shaped like a domain (bit.ly/x, example.com).
  if (/[a-z][a-z0-9+.-]*:\/\/|www\.|@|[\p{L}\p{N}-]\.[\p{L}]{2,}/iu.test(v)) return null
  return v
}

/**
 * The one renderer: a named template with the contact's values made plain and `variables`
 * (untrusted) made plain and capped. Contact values win over variables of the same name.
 */
export async function renderTemplateRef(
  deps: Pick<BridgeDeps, 'config'>,
  ref: TemplateRef,
  contact: Intercom.Contact,
  variables: Record<string, string> = {},
): Promise<Rendered> {
  if (ref.kind === 'macro') return { ok: false, reason: 'macro_unavailable' }
  const template = deps.config.templates.get(ref.name)
  if (template === undefined) return { ok: false, reason: 'unknown_template' }
  const plain = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, plainVariable(v)]))
  const body = renderTemplate(template, { ...plain, ...contactValues(contact) }).slice(0, MAX_SMS_BODY)
  return body ? { ok: true, body } : { ok: false, reason: 'empty' }
}
