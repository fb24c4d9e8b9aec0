/**
 * The one template renderer (named templates, the welcome and Intercom macros' `body_text`), in
 * Intercom's placeholder syntax: `{{user.name|fallback:"there"}}` (single quotes and spaces around
 * `|` and `:` allowed, as Intercom writes them), `{{first_name}}`, and the bridge's older short form
 * `{{first_name|there}}`. A placeholder whose value is missing or not plain renders as its
 * fallback, or as nothing. The result is an SMS, not HTML: nothing is escaped.
 */
export function renderTemplate(template: string, valueOf: (name: string) => string | null): string {
  return template
    .replace(PLACEHOLDER, (...args: unknown[]) => {
      const g = args[args.length - 1] as Record<'name' | 'quoted' | 'single' | 'bare', string | undefined>
      return valueOf(g.name!.toLowerCase()) ?? (g.quoted ?? g.single ?? g.bare ?? '').trim()
    })
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/ ([,.!?])/g, '$1')
    .trim()
}

// {{ name }}, {{ name | fallback: "x" }}, {{ name | fallback: 'x' }}, {{ name | x }}
const PLACEHOLDER =
  /\{\{\s*(?<name>[\w.-]+)\s*(?:\|\s*(?:fallback\s*:\s*(?:"(?<quoted>[^"]*)"|'(?<single>[^']*)')|(?<bare>[^}]*?))\s*)?\}\}/gi

/** The longest first name a text may carry. */
export const MAX_FIRST_NAME = 20
/** The longest other value (a custom attribute, a Workflow's variable) a text may carry. */
export const MAX_VALUE = 60

const NAME_WORD = /^\p{L}[\p{L}\p{M}]*(?:['\u2019-]\p{L}[\p{L}\p{M}]*)*$/u

/**
 * A contact's name as it may appear in a text: the first word, letters only (an apostrophe or hyphen
 * between letters allowed: O'Brien, Jean-Luc), at most MAX_FIRST_NAME characters. Anything else (a
 * link, digits, markup, a sentence) is no name at all, and the template's fallback is used. A lead
 * writes its own name from the browser: it must never turn the team's number into a way to text
 * someone a link.
 */
export function plainFirstName(name: string | null | undefined): string | null {
  const first = name?.normalize('NFC').trim().split(/\s+/)[0]
  if (!first || first.length > MAX_FIRST_NAME) return null
  return NAME_WORD.test(first) ? first : null
}

// What makes a value more than words: a link (scheme, www., anything.tld), markup, a placeholder,
// control and format characters (bidi overrides hide what a text says).
const NOT_PLAIN = [/:\/\//, /\bwww\./i, /[\p{L}\p{N}-]\.\p{L}{2,}/u, /[<>[\]{}\\`*_|]/, /[\p{Cc}\p{Cf}]/u]

/**
 * Any other value someone outside the team wrote (a custom attribute a lead set, a Workflow's or
 * Fin's variable): a string, number or boolean, one line, at most MAX_VALUE characters, with no link
 * (an email address counts as one), markup or hidden characters; else null and the fallback is used.
 * Never shortened: a cut value can say something else.
 */
export function plainValue(value: unknown): string | null {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (typeof value !== 'string') return null
  const text = value.normalize('NFC').replace(/\s+/g, ' ').trim()
  if (!text || text.length > MAX_VALUE) return null
  return NOT_PLAIN.some((re) => re.test(text)) ? null : text
}

/** What a template can name of a contact: their name and custom attributes, as Intercom's placeholders name them. */
export interface TemplateContact {
  name?: string | null
  custom_attributes?: Record<string, unknown> | null
}

// Intercom writes a contact's attributes as `user.x` in macros (and `contact.x`, `lead.x` elsewhere).
const CONTACT_PREFIX = /^(?:user|contact|lead|customer)\./

/**
 * The values a template may use, every one plain: the contact's plain first name (`first_name`,
 * `name`, also as `user.first_name`, `user.name`...), their custom attributes (`custom_attributes.plan`),
 * then `variables` by their exact name. Anything else (a teammate's or the conversation's attributes,
 * the contact's email or phone) is not offered: its fallback is used.
 */
export function templateValues(contact: TemplateContact, variables: Record<string, string> = {}): (name: string) => string | null {
  return (name) => {
    const key = name.replace(CONTACT_PREFIX, '')
    const own = contactValue(contact, key)
    if (own !== undefined) return own
    return Object.hasOwn(variables, name) ? plainValue(variables[name]) : null
  }
}

/** A contact's value for a placeholder, null when it is not plain, undefined when it names none. */
function contactValue(contact: TemplateContact, key: string): string | null | undefined {
  // Only ever a plain first name, whichever name a template asks for: a whole name is more of a
  // lead's own words than a greeting needs (test/faults/visitor-fields.test.ts).
  if (key === 'first_name' || key === 'name' || key === 'full_name') return plainFirstName(contact.name)
  const custom = /^custom_attributes?\.(.+)$/.exec(key)?.[1]
  if (custom !== undefined) {
    const attributes = contact.custom_attributes ?? {}
    return Object.hasOwn(attributes, custom) ? plainValue(attributes[custom]) : null
  }
  return undefined
}
