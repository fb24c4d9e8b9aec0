import type { InsertOutcome, MacroChoices, PreviewOutcome } from '../server/bridge/compose.js'
import type { TextEstimate } from '../server/bridge/estimate.js'
import type { PanelFlash } from './inbox-views.js'
import type { CanvasResponse, Component } from './schema.js'
import { canvas, plainText } from './views.js'

// The composer's screens (canvas/compose.ts runs their buttons): the macro picker and the Preview.
// Canvas Kit cannot change a canvas while a teammate types, so the counter is a step of its own.

/** The dropdown's option for "no macro yet", and the prefix of each macro's option id. */
export const NO_MACRO = 'macro-none'
export const MACRO_OPTION = 'macro-'

/** "Use a macro": find by name, choose in a dropdown (Canvas Kit's holds 10), Insert; or Back. */
export function macroPicker(choices: MacroChoices, search = ''): CanvasResponse {
  const c: Component[] = [
    { type: 'text', id: 'macros_title', text: '*Macros*', style: 'header' },
    { type: 'input', id: 'macro_search', label: 'Find a macro', placeholder: 'Name', value: search, action: { type: 'submit' } },
  ]
  if (choices.kind === 'unavailable') {
    c.push({ type: 'text', id: 'macros_error', text: plainText(`Intercom did not list the macros: ${choices.error}`), style: 'error' })
  } else if (choices.kind === 'none') {
    const none = search
      ? `No macro you may use is named like "${search}".`
      : 'There are no macros you may use (visible to everyone or to one of your teams).'
    c.push({ type: 'text', id: 'macros_none', text: plainText(none), style: 'muted' })
  } else {
    const options = [{ type: 'option' as const, id: NO_MACRO, text: 'Choose a macro' }]
    for (const m of choices.macros) options.push({ type: 'option', id: `${MACRO_OPTION}${m.id}`, text: m.name.slice(0, 80) })
    c.push({ type: 'dropdown', id: 'macro_id', label: 'Macro', options, value: NO_MACRO })
    if (choices.total > choices.macros.length) {
      const more = `The ${choices.macros.length} most recently updated of ${choices.total}: find one by name to see others.`
      c.push({ type: 'text', id: 'macros_more', text: more, style: 'muted' })
    }
    c.push({ type: 'button', id: 'insert_macro', label: 'Insert', action: { type: 'submit' }, style: 'primary' })
  }
  c.push({ type: 'button', id: 'refresh', label: 'Back', action: { type: 'submit' }, style: 'link' })
  return canvas(c)
}

const UNAVAILABLE = {
  gone: 'That macro no longer exists in Intercom (or the bridge may not read it).',
  not_theirs: 'That macro is not visible to your teams.',
  empty: 'That macro has no text to send.',
}

/** "Insert": the rendered macro in the text box, to edit before Preview. */
export function insertFlash(outcome: InsertOutcome): PanelFlash {
  if (outcome.kind === 'inserted')
    return { draft: outcome.body, notice: `Macro "${outcome.name}": edit the text if you like, then Preview.` }
  if (outcome.kind === 'upstream') return { error: `Intercom did not show the macro: ${outcome.error}` }
  return { error: UNAVAILABLE[outcome.reason] }
}

/** What a Preview screen shows and keeps: the text and its estimate. */
export type PreviewView = Extract<PreviewOutcome, { kind: 'preview' }>

/**
 * The Preview's buttons, in order: each a function of the preview, so another way to send (later, at a
 * time) is one more row here.
 */
export const PREVIEW_BUTTONS: Array<(p: PreviewView) => Component | null> = [
  (p) =>
    p.estimate.smartEncoded
      ? { type: 'button', id: 'use_plain', label: 'Use plain characters', action: { type: 'submit' }, style: 'secondary' }
      : null,
  () => ({ type: 'button', id: 'send_previewed', label: 'Send', action: { type: 'submit' }, style: 'primary' }),
  () => ({ type: 'button', id: 'edit_sms', label: 'Edit', action: { type: 'submit' }, style: 'link' }),
]

/** What the Preview keeps in the canvas for its buttons: the text as previewed, and its plain-character version. */
export const PREVIEW_BODY = 'preview_body'
export const PLAIN_BODY = 'plain_body'

/** The text as it will go, and what it takes: characters, encoding, segments, SMS or MMS, price. */
export function previewPanel(p: PreviewView): CanvasResponse {
  const buttons = PREVIEW_BUTTONS.map((b) => b(p)).filter((b): b is Component => b !== null)
  const c: Component[] = [
    { type: 'text', id: 'preview_title', text: '*Preview*', style: 'header' },
    { type: 'text', id: 'preview_text', text: plainText(p.body), style: 'paragraph' },
    { type: 'data-table', id: 'preview_counts', items: estimateRows(p.estimate) },
    ...buttons,
  ]
  return canvas(c, { [PREVIEW_BODY]: p.body, ...(p.estimate.smartEncoded ? { [PLAIN_BODY]: p.estimate.smartEncoded } : {}) })
}

const shown = (ch: string) => (/\s/.test(ch) ? `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : ch)

function estimateRows(e: TextEstimate): Array<{ type: 'field-value'; field: string; value: string }> {
  const row = (field: string, value: string) => ({ type: 'field-value' as const, field, value })
  const perSegment = e.encoding === 'GSM-7' ? '160 a text, 153 a part' : '70 a text, 67 a part'
  const rows = [
    row('Characters', String(e.characters)),
    row('Encoding', `${e.encoding} (${perSegment})`),
    row('Segments', `${e.segments}${e.segments > 1 ? ': billed as that many texts' : ''}`),
    row('Sent as', e.kind === 'mms' ? 'MMS' : 'SMS'),
    row('Price per text', e.price ? `${e.price.perText} ${e.price.unit} (${e.price.country})` : 'unknown'),
  ]
  if (e.forcedUcs2.length) rows.splice(2, 0, row('UCS-2 because of', e.forcedUcs2.map(shown).join(' ')))
  return rows
}
