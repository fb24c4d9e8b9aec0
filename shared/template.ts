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

/** The values a contact offers to templates. */
export function contactValues(contact: { name?: string | null }): Record<string, string | null> {
  const name = contact.name?.trim() || null
  return { name, first_name: name ? name.split(/\s+/)[0]! : null }
}
