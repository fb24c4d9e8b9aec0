/**
 * Fills `{{name}}` placeholders; `{{name|fallback}}` uses the fallback when the value is missing or
 * blank. Unknown names render as their fallback, or as nothing. Values are inserted as they are:
 * the result is an SMS, not HTML.
 */
export function renderTemplate(template: string, values: Record<string, string | null | undefined>): string {
  return template
    .replace(/\{\{\s*([\w.]+)\s*(?:\|([^}]*))?\}\}/g, (_m, name: string, fallback?: string) => {
      const value = values[name]?.trim()
      return value ? value : (fallback ?? '').trim()
    })
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/ ([,.!?])/g, '$1')
    .trim()
}

/** The longest first name a text may carry. */
export const MAX_FIRST_NAME = 20

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
  return /^\p{L}[\p{L}\p{M}]*(?:['’-]\p{L}[\p{L}\p{M}]*)*$/u.test(first) ? first : null
}

/** The values a contact offers to templates: `{{name}}` and `{{first_name}}` are both the plain first name. */
export function contactValues(contact: { name?: string | null }): Record<string, string | null> {
  const first = plainFirstName(contact.name)
  return { name: first, first_name: first }
}
