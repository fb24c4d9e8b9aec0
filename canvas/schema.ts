import { z } from 'zod'

// Canvas Kit responses, as Intercom documents them: only these component types and fields. The
// views are built against these types, and the tests check every response against the schema.

const id = z.string().min(1).max(255)
const margin = z.enum(['none']).optional()

const action = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('submit') }),
  z.strictObject({ type: z.literal('url'), url: z.url() }),
  z.strictObject({ type: z.literal('sheet'), url: z.url() }),
])

const text = z.strictObject({
  type: z.literal('text'),
  id: id.optional(),
  text: z.string().min(1),
  align: z.enum(['left', 'center', 'right']).optional(),
  style: z.enum(['header', 'paragraph', 'muted', 'error']).optional(),
  bottom_margin: margin,
})

const button = z.strictObject({
  type: z.literal('button'),
  id,
  label: z.string().min(1),
  action,
  style: z.enum(['primary', 'secondary', 'link']).optional(),
  disabled: z.boolean().optional(),
})

const input = z.strictObject({
  type: z.literal('input'),
  id,
  label: z.string().optional(),
  placeholder: z.string().optional(),
  value: z.string().optional(),
  action: action.optional(),
  save_state: z.enum(['unsaved', 'saved', 'failed']).optional(),
  disabled: z.boolean().optional(),
  aria_label: z.string().optional(),
})

const textarea = z.strictObject({
  type: z.literal('textarea'),
  id,
  label: z.string().optional(),
  placeholder: z.string().optional(),
  value: z.string().optional(),
  error: z.boolean().optional(),
  disabled: z.boolean().optional(),
})

const option = z.strictObject({ type: z.literal('option'), id, text: z.string().min(1), disabled: z.boolean().optional() })

const checkbox = z.strictObject({
  type: z.literal('checkbox'),
  id,
  // Canvas Kit requires it on a checkbox (unlike an input's); a card without it is refused.
  label: z.string().min(1),
  option: z.array(option).min(1),
  value: z.array(z.string()).optional(),
  save_state: z.enum(['unsaved', 'saved', 'failed']).optional(),
  disabled: z.boolean().optional(),
})

// Canvas Kit's dropdown: 2 to 10 options; the chosen option's id is submitted under the dropdown's id.
const dropdown = z.strictObject({
  type: z.literal('dropdown'),
  id,
  label: z.string().optional(),
  options: z.array(option).min(2).max(10),
  value: z.string().optional(),
  save_state: z.enum(['unsaved', 'saved', 'failed']).optional(),
  disabled: z.boolean().optional(),
})

const listItem = z.strictObject({
  type: z.literal('item'),
  id,
  title: z.string().min(1),
  subtitle: z.string().optional(),
  tertiary_text: z.string().optional(),
  image: z.url().optional(),
  image_width: z.number().optional(),
  image_height: z.number().optional(),
  rounded_image: z.boolean().optional(),
  disabled: z.boolean().optional(),
  action: action.optional(),
})

const list = z.strictObject({
  type: z.literal('list'),
  id: id.optional(),
  items: z.array(listItem).min(1),
  disabled: z.boolean().optional(),
})

const dataTable = z.strictObject({
  type: z.literal('data-table'),
  id: id.optional(),
  items: z.array(z.strictObject({ type: z.literal('field-value'), field: z.string().min(1), value: z.string() })).min(1),
})

const divider = z.strictObject({ type: z.literal('divider'), id: id.optional(), bottom_margin: margin })
const spacer = z.strictObject({ type: z.literal('spacer'), id: id.optional(), size: z.enum(['xs', 's', 'm', 'l', 'xl']).optional() })

export const component = z.discriminatedUnion('type', [text, button, input, textarea, checkbox, dropdown, list, dataTable, divider, spacer])
export type Component = z.infer<typeof component>

export const canvasResponse = z
  .strictObject({
    canvas: z.strictObject({
      content: z.strictObject({ components: z.array(component).min(1) }),
      stored_data: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .superRefine((value, ctx) => {
    // Ids must be unique across the canvas, list items included.
    const seen = new Set<string>()
    for (const c of value.canvas.content.components) {
      const ids = [
        'id' in c ? c.id : undefined,
        ...(c.type === 'list' ? c.items.map((i) => i.id) : []),
        ...(c.type === 'checkbox' ? c.option.map((o) => o.id) : []),
        ...(c.type === 'dropdown' ? c.options.map((o) => o.id) : []),
      ]
      for (const x of ids) {
        if (!x) continue
        if (seen.has(x)) ctx.addIssue({ code: 'custom', message: `component id "${x}" is used twice` })
        seen.add(x)
      }
      if (c.type === 'dropdown' && c.value !== undefined && !c.options.some((o) => o.id === c.value))
        ctx.addIssue({ code: 'custom', message: `dropdown "${c.id}": value "${c.value}" is not one of its options` })
    }
  })
export type CanvasResponse = z.infer<typeof canvasResponse>
