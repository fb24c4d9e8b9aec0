import type { CanvasResponse, Component } from './schema.js'

// What both Canvas Kit apps' views share. Each app's views (inbox-views.ts, messenger-views.ts) own
// every sentence a teammate or visitor reads: the bridge returns outcomes, never words.

/**
 * Canvas Kit text components are markdown (*bold*, _italic_, [links](...)): text from a person or a
 * sentence naming a setting is escaped, or "SMS_ALLOWED_COUNTRIES" loses its underscores.
 */
export function plainText(text: string): string {
  return text.replace(/[\\*_[\]`]/g, (c) => `\\${c}`)
}

export function canvas(components: Component[], storedData?: Record<string, unknown>): CanvasResponse {
  return { canvas: { content: { components }, ...(storedData ? { stored_data: storedData } : {}) } }
}

/** Whatever went wrong, Intercom gets a canvas that says so and offers a way back. */
export function errorCanvas(message = 'Something went wrong loading SMS for this contact.'): CanvasResponse {
  return canvas([
    { type: 'text', id: 'error', text: plainText(message), style: 'error' },
    { type: 'button', id: 'refresh', label: 'Refresh', action: { type: 'submit' }, style: 'secondary' },
  ])
}
