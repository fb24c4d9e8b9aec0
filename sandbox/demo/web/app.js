// The demo page: plain JavaScript, no build. State arrives over server-sent events (/api/events);
// actions are small JSON posts to the demo server, which acts as Twilio and Intercom would.

const $ = (selector) => document.querySelector(selector)

const ui = {
  state: null,
  number: null,
  extraNumbers: [], // numbers typed in that have not texted yet
  typedReadable: {}, // how the demo server writes those numbers
  follow: null, // a number whose conversation the inbox opens as soon as it exists
  conversationId: null,
  attachment: null, // 'sample' or { contentType, data, name, preview }
  canvas: null, // { json, conversationId, at, componentId }
  canvasBusy: false,
  canvasRetry: null,
}

// ---------- helpers ----------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'class') node.className = value
    else if (key === 'text') node.textContent = value
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value)
    else if (key in node && !key.startsWith('aria') && !key.startsWith('data')) node[key] = value
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child)
  return node
}

/** One format and zone in every pane, the sidebar's own: "2026-12-02 14:05 UTC". */
const clock = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'

/** A number as the sidebar writes it ("+1 415 555 0123", "+44 7400 123456"): the demo server formats every number on the page with the bridge's formatter. */
function readable(number) {
  if (!number) return ''
  return ui.state?.readable?.[number] ?? ui.typedReadable[number] ?? number
}

async function post(path, body) {
  let res
  try {
    res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  } catch {
    // The browser says only "Failed to fetch": the demo server stopped, or the network between.
    throw new Error('The demo server did not answer: is npm run demo still running? Try again once the page says Live.')
  }
  const json = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(json.error ?? `The demo server answered ${res.status}.`)
  return json
}

const PICTURE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp']
const ALLOWED = new Set(['p', 'br', 'b', 'strong', 'i', 'em', 'a', 'ul', 'ol', 'li', 'code', 'pre', 'img'])

/** Intercom's HTML bodies, keeping only harmless formatting (no attributes but a link's http(s) href and a picture's http(s) src). */
function safeHtml(html) {
  const doc = new DOMParser().parseFromString(html ?? '', 'text/html')
  const out = document.createDocumentFragment()
  const walk = (from, into) => {
    for (const child of from.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) into.append(child.textContent)
      else if (child.nodeType === Node.ELEMENT_NODE) {
        const tag = child.tagName.toLowerCase()
        if (!ALLOWED.has(tag)) {
          walk(child, into)
          continue
        }
        const copy = document.createElement(tag)
        const href = tag === 'a' ? (child.getAttribute('href') ?? '') : ''
        if (/^https?:\/\//i.test(href)) Object.assign(copy, { href, target: '_blank', rel: 'noopener noreferrer' })
        // A picture pasted into a teammate's reply is inlined by Intercom as <img>.
        const src = tag === 'img' ? (child.getAttribute('src') ?? '') : ''
        if (tag === 'img' && !/^https?:\/\//i.test(src)) continue
        if (src) Object.assign(copy, { src, alt: 'Picture in the reply', className: 'picture' })
        walk(child, copy)
        into.append(copy)
      }
    }
  }
  walk(doc.body, out)
  return out
}

/** Canvas Kit text: *bold*, _italic_ and [links](https://...); a backslash keeps the next mark as written. */
function canvasMarkdown(text) {
  const out = document.createDocumentFragment()
  const unescape = (s) => s.replace(/\\([\\*_[\]`])/g, '$1')
  const pattern = /\\([\\*_[\]`])|\*((?:\\.|[^*\\])+)\*|_((?:\\.|[^_\\])+)_|\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g
  let at = 0
  for (const m of text.matchAll(pattern)) {
    out.append(text.slice(at, m.index))
    if (m[1]) out.append(m[1])
    else if (m[2]) out.append(el('strong', { text: unescape(m[2]) }))
    else if (m[3]) out.append(el('em', { text: unescape(m[3]) }))
    else out.append(el('a', { href: m[5], target: '_blank', rel: 'noopener noreferrer', text: unescape(m[4]) }))
    at = m.index + m[0].length
  }
  out.append(text.slice(at))
  return out
}

function showError(target, err) {
  $(target).textContent = err ? (err.message ?? String(err)) : ''
}

// ---------- the phone ----------

function renderCustomers() {
  const select = $('#customer')
  const customers = [
    ...ui.state.customers,
    ...ui.extraNumbers
      .filter((n) => !ui.state.customers.some((c) => c.number === n))
      .map((number) => ({ number, label: null, delivery: 'delivered' })),
  ]
  const wanted = [...customers.map((c) => c.number), 'other'].join(',')
  if (select.dataset.options !== wanted) {
    select.replaceChildren(
      ...customers.map((c) => el('option', { value: c.number, text: c.label ? `${readable(c.number)} (${c.label})` : readable(c.number) })),
      el('option', { value: 'other', text: 'Another number…' }),
    )
    select.dataset.options = wanted
  }
  ui.number ??= customers[0]?.number ?? null
  if (select.value !== ui.number && $('#other-form').hidden) select.value = ui.number
  const me = customers.find((c) => c.number === ui.number)
  $('#delivery').value = me?.delivery ?? 'delivered'
  $('#our-number').textContent = readable(ui.state.ourNumber)
}

function renderPhone() {
  const list = $('#phone-thread')
  // The phone shows what reached it: texts it sent, and texts that were delivered to it.
  const texts = ui.state.phone.filter(
    (m) => m.customer === ui.number && (m.fromCustomer || m.status === 'delivered' || m.status === 'read'),
  )
  const key = texts.map((m) => `${m.sid}:${m.status}`).join(',')
  if (list.dataset.key === key && list.dataset.number === ui.number) return
  const stick = list.dataset.follow !== '0' || list.dataset.number !== ui.number
  list.dataset.key = key
  list.dataset.number = ui.number
  list.replaceChildren(
    ...texts.map((m) =>
      el(
        'li',
        { class: `bubble ${m.fromCustomer ? 'mine' : 'theirs'}`, 'data-sid': m.sid },
        el('span', { class: 'visually-hidden', text: m.fromCustomer ? 'You: ' : 'Received: ' }),
        m.body ? el('p', { class: 'body', text: m.body }) : null,
        ...m.media.map((item, i) =>
          isPicture(item.contentType)
            ? el('img', { src: item.url, alt: `Picture ${i + 1} ${m.fromCustomer ? 'sent' : 'received'}`, class: 'picture' })
            : attachmentLink(item.url, `File ${i + 1}`, item.contentType),
        ),
        el('p', { class: 'meta', text: m.fromCustomer ? `Sent ${clock(m.at)}` : clock(m.at) }),
      ),
    ),
  )
  if (!texts.length) list.append(el('li', { class: 'muted empty', text: 'No texts yet. Write one below.' }))
  followNewest(list, stick)
}

function setAttachment(attachment) {
  ui.attachment = attachment
  $('#attachment').hidden = !attachment
  if (!attachment) {
    $('#phone-file').value = ''
    return
  }
  $('#attachment-preview').src = attachment === 'sample' ? '/picture.png' : attachment.preview
  $('#attachment-preview').alt = 'Picture to send'
  $('#attachment-name').textContent = attachment === 'sample' ? 'parcel.png' : attachment.name
}

async function sendText(body) {
  if (!ui.number) return
  const button = $('#phone-send')
  button.disabled = true
  showError('#phone-error', null)
  try {
    const picture =
      ui.attachment === 'sample'
        ? 'sample'
        : ui.attachment
          ? { contentType: ui.attachment.contentType, data: ui.attachment.data }
          : undefined
    await post('/api/phone/text', { from: ui.number, body, picture })
    ui.follow = ui.number
    render()
    return true
  } catch (err) {
    showError('#phone-error', err)
    return false
  } finally {
    button.disabled = false
  }
}

function wirePhone() {
  $('#customer').addEventListener('change', (e) => {
    const value = e.target.value
    showError('#phone-error', null)
    $('#other-form').hidden = value !== 'other'
    if (value === 'other') return $('#other-number').focus()
    chooseNumber(value)
  })
  // "Another number…" is checked when it is chosen, by the demo server, as the bridge reads numbers.
  $('#other-form').addEventListener('submit', async (e) => {
    e.preventDefault()
    const input = $('#other-number')
    try {
      const { number, readable: written } = await post('/api/phone/number', { number: input.value })
      input.removeAttribute('aria-invalid')
      showError('#phone-error', null)
      ui.typedReadable[number] = written
      if (!ui.extraNumbers.includes(number)) ui.extraNumbers.push(number)
      $('#other-form').hidden = true
      input.value = ''
      chooseNumber(number)
    } catch (err) {
      input.setAttribute('aria-invalid', 'true')
      showError('#phone-error', err)
      input.focus()
    }
  })
  $('#other-number').addEventListener('input', (e) => {
    e.target.removeAttribute('aria-invalid')
    showError('#phone-error', null)
  })
  $('#delivery').addEventListener('change', async (e) => {
    try {
      await post('/api/phone/delivery', { number: ui.number, mode: e.target.value })
      showError('#phone-error', null)
    } catch (err) {
      showError('#phone-error', err)
    }
  })
  $('#phone-form').addEventListener('submit', async (e) => {
    e.preventDefault()
    const box = $('#phone-text')
    if (!$('#other-form').hidden) return showError('#phone-error', new Error('Choose the number first: type it and press Use.'))
    if (!box.value.trim() && !ui.attachment) return showError('#phone-error', new Error('Write a text or attach a picture.'))
    if (await sendText(box.value)) {
      box.value = ''
      setAttachment(null)
    }
  })
  $('#phone-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault()
      $('#phone-form').requestSubmit()
    }
  })
  $('#attach-sample').addEventListener('click', () => setAttachment('sample'))
  $('#attachment-remove').addEventListener('click', () => setAttachment(null))
  $('#phone-file').addEventListener('change', (e) => {
    const file = e.target.files?.[0]
    if (!file) return
    // The phone sends pictures only (the file box suggests them, but "All files" lets anything through).
    if (!PICTURE_TYPES.includes(file.type)) {
      e.target.value = ''
      return showError('#phone-error', new Error(`"${file.name}" is not a picture: the phone sends PNG, JPEG, GIF or WebP.`))
    }
    if (file.size > 5 * 1024 * 1024) return showError('#phone-error', new Error('A picture is at most 5 MB (the MMS limit).'))
    const reader = new FileReader()
    reader.onload = () => {
      const url = String(reader.result)
      setAttachment({ contentType: file.type, data: url.slice(url.indexOf(',') + 1), name: file.name, preview: url })
    }
    reader.readAsDataURL(file)
  })
  for (const chip of document.querySelectorAll('[data-quick]')) {
    chip.addEventListener('click', () => sendText(chip.dataset.quick))
  }
}

// ---------- the inbox ----------

const contactName = (c) => c?.contact?.name || readable(c?.contact?.phone) || 'Unknown contact'
const plain = (html) => new DOMParser().parseFromString(html ?? '', 'text/html').body.textContent ?? ''

/** The phone plays one customer at a time; the inbox shows that customer's conversation, as soon as there is one. */
function chooseNumber(number) {
  ui.number = number
  ui.follow = number
  render()
}

function followPhone() {
  if (!ui.follow) return
  // Conversations come newest first: the customer's latest one.
  const theirs = ui.state.conversations.find((c) => c.contact?.phone === ui.follow)
  if (!theirs) return // not yet: it opens when their first text arrives
  ui.follow = null
  if (theirs.id === ui.conversationId) return
  ui.conversationId = theirs.id
  ui.canvas = null
  loadCanvas()
}

function renderConversationList() {
  const conversations = ui.state.conversations
  $('#inbox-empty').hidden = conversations.length > 0
  followPhone()
  if (!ui.conversationId && conversations.length) ui.conversationId = conversations[0].id
  const list = $('#conversation-list')
  list.replaceChildren(
    ...conversations.map((c) => {
      const last = [...c.parts].reverse().find((p) => p.type === 'comment')
      return el(
        'li',
        {},
        el(
          'button',
          {
            type: 'button',
            class: 'conversation-item',
            'aria-current': c.id === ui.conversationId ? 'true' : null,
            'data-id': c.id,
            onclick: () => selectConversation(c.id),
          },
          el('span', { class: 'who', text: contactName(c) }),
          el('span', { class: 'preview', text: plain(last?.body).slice(0, 60) || (last?.attachments.length ? 'Picture' : '') }),
          el('span', {
            class: 'meta',
            text: `${c.state === 'open' ? 'Open' : 'Closed'} · ${clock(c.updatedAt * 1000)}${c.tags.length ? ` · ${c.tags.join(', ')}` : ''}`,
          }),
        ),
      )
    }),
  )
}

const isPicture = (contentType) => /^image\//i.test(contentType ?? '')

/** A picture shows itself; any other file (a video, a PDF) is a link with its name, never a broken image. */
function attachmentLink(url, name, contentType, alt = name) {
  const link = el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'attachment-link' })
  if (isPicture(contentType)) link.append(el('img', { src: url, alt, class: 'picture' }))
  else link.append(el('span', { class: 'file-name', text: `📎 ${name}${contentType ? ` (${contentType})` : ''}` }))
  return link
}

/**
 * Keeps a thread at its newest message while the reader is there, also when pictures in it load
 * after it was drawn and push the bottom down; a reader who scrolled up is left where they are.
 */
function followNewest(list, stick) {
  if (!list.dataset.followWired) {
    list.dataset.followWired = '1'
    list.addEventListener('scroll', () => (list.dataset.follow = list.scrollHeight - list.scrollTop - list.clientHeight < 40 ? '1' : '0'))
    // load does not bubble; a listener that captures sees every picture's.
    list.addEventListener('load', () => list.dataset.follow !== '0' && (list.scrollTop = list.scrollHeight), true)
  }
  if (stick) {
    list.dataset.follow = '1'
    list.scrollTop = list.scrollHeight
  }
}

function partItem(p) {
  if (p.type === 'close') return el('li', { class: 'event', text: `Closed by ${p.author.name ?? 'a teammate'} · ${clock(p.at * 1000)}` })
  const customer = p.author.type === 'user' || p.author.type === 'lead'
  const note = p.type === 'note'
  const who = customer
    ? 'Customer'
    : note
      ? `Note by ${p.author.name ?? 'a teammate'}`
      : p.author.type === 'bot'
        ? 'Fin (bot)'
        : (p.author.name ?? 'Teammate')
  const body = el('div', { class: 'body' })
  if (customer) body.append(el('p', { class: 'plain', text: p.body ?? '' }))
  else body.append(safeHtml(p.body))
  return el(
    'li',
    { class: `part ${customer ? 'customer' : note ? 'note' : 'teammate'}`, 'data-part': p.id },
    el('p', { class: 'author', text: `${who} · ${clock(p.at * 1000)}` }),
    body,
    ...p.attachments.map((a) => attachmentLink(a.url, a.name, a.contentType, `Attachment ${a.name}`)),
  )
}

function renderConversation() {
  const c = ui.state.conversations.find((x) => x.id === ui.conversationId)
  $('#conversation').hidden = !c
  if (!c) return
  $('#conversation-title').textContent = contactName(c)
  $('#conversation-meta').textContent =
    `Conversation ${c.id} · ${c.state === 'open' ? 'Open' : 'Closed'} · ${c.contact?.role === 'lead' ? 'Lead' : 'User'}`
  $('#conversation-tags').replaceChildren(...c.tags.map((t) => el('li', { class: 'tag', text: t })))
  $('#close-conversation').disabled = c.state !== 'open'
  const details = [
    ['Role', c.contact?.role],
    ['Phone', readable(c.contact?.phone)],
    ['Email', c.contact?.email],
    ...Object.entries(c.contact?.attributes ?? {}).map(([k, v]) => [k, String(v)]),
  ].filter(([, v]) => v)
  $('#contact-details').replaceChildren(...details.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]))

  const list = $('#conversation-thread')
  const key = `${c.id}:${c.parts.length}`
  if (list.dataset.key === key) return
  const stick = list.dataset.follow !== '0' || !list.dataset.key?.startsWith(`${c.id}:`)
  list.dataset.key = key
  list.replaceChildren(...c.parts.map(partItem))
  followNewest(list, stick)
}

function selectConversation(id) {
  if (ui.conversationId === id) return
  ui.conversationId = id
  ui.canvas = null
  renderInbox()
  loadCanvas()
}

function renderInbox() {
  renderConversationList()
  renderConversation()
}

function wireInbox() {
  $('#reply-form').addEventListener('submit', async (e) => {
    e.preventDefault()
    const box = $('#reply-text')
    const picture = $('#reply-picture')
    const button = $('#reply-send')
    if (!box.value.trim() && !picture.checked) return showError('#reply-error', new Error('Write a reply or attach a picture first.'))
    button.disabled = true
    showError('#reply-error', null)
    try {
      await post('/api/inbox/reply', { conversationId: ui.conversationId, body: box.value, picture: picture.checked })
      box.value = ''
      picture.checked = false
    } catch (err) {
      showError('#reply-error', err)
    } finally {
      button.disabled = false
    }
  })
  // What a Workflow's "Send SMS" step does: Intercom calls the bridge's data connector for this conversation.
  $('#run-workflow').addEventListener('click', async () => {
    showError('#reply-error', null)
    $('#workflow-result').textContent = ''
    try {
      const { answer } = await post('/api/workflow', { conversationId: ui.conversationId })
      $('#workflow-result').textContent = `The connector answered: ${JSON.stringify(answer)}`
    } catch (err) {
      showError('#reply-error', err)
    }
  })
  $('#close-conversation').addEventListener('click', async () => {
    showError('#reply-error', null)
    try {
      await post('/api/inbox/close', { conversationId: ui.conversationId })
    } catch (err) {
      showError('#reply-error', err)
    }
  })
}

// ---------- the sidebar (Canvas Kit) ----------

function field(c, control) {
  const id = `cv-${c.id}`
  control.id = id
  control.name = c.id
  const label = c.label ? el('label', { for: id, text: c.label }) : null
  if (!label) control.setAttribute('aria-label', c.aria_label ?? c.placeholder ?? c.id)
  return el('div', { class: 'c-field' }, label, control)
}

function renderComponent(c) {
  switch (c.type) {
    case 'text':
      return el(
        'p',
        { class: `c-text ${c.style ?? 'paragraph'} align-${c.align ?? 'left'}`, 'data-component': c.id },
        canvasMarkdown(c.text),
      )
    case 'button': {
      const style = c.style ?? 'primary'
      if (c.action?.type === 'url' || c.action?.type === 'sheet') {
        return el('a', { class: `c-button ${style}`, href: c.action.url, target: '_blank', rel: 'noopener noreferrer', text: c.label })
      }
      return el('button', {
        type: 'button',
        class: `c-button ${style}`,
        disabled: c.disabled,
        'data-component': c.id,
        onclick: () => submitCanvas(c.id),
        text: c.label,
      })
    }
    case 'input':
      return field(
        c,
        el('input', {
          type: 'text',
          value: c.value ?? '',
          placeholder: c.placeholder,
          disabled: c.disabled,
          'aria-invalid': c.save_state === 'failed' ? 'true' : null,
        }),
      )
    case 'textarea': {
      const box = el('textarea', { rows: 3, placeholder: c.placeholder, disabled: c.disabled, 'aria-invalid': c.error ? 'true' : null })
      box.value = c.value ?? ''
      box.defaultValue = c.value ?? ''
      return field(c, box)
    }
    case 'dropdown': {
      const select = el(
        'select',
        { disabled: c.disabled },
        ...(c.options ?? []).map((o) => el('option', { value: o.id, text: o.text, disabled: o.disabled })),
      )
      select.value = c.value ?? c.options?.[0]?.id ?? ''
      return field(c, select)
    }
    case 'checkbox':
      return el(
        'fieldset',
        { class: 'c-checkbox', 'data-component': c.id },
        c.label ? el('legend', { text: c.label }) : null,
        ...c.option.map((o) =>
          el(
            'label',
            {},
            el('input', {
              type: 'checkbox',
              name: c.id,
              value: o.id,
              checked: (c.value ?? []).includes(o.id),
              disabled: o.disabled || c.disabled,
            }),
            ` ${o.text}`,
          ),
        ),
      )
    case 'list':
      return el(
        'ul',
        { class: 'c-list', 'data-component': c.id },
        ...c.items.map((item) =>
          el(
            'li',
            { class: 'c-item', 'data-item': item.id },
            item.image ? el('img', { src: item.image, alt: '', width: item.image_width ?? 32, height: item.image_height ?? 32 }) : null,
            el(
              'div',
              {},
              el('p', { class: 'title', text: item.title }),
              item.subtitle ? el('p', { class: 'subtitle', text: item.subtitle }) : null,
              item.tertiary_text ? el('p', { class: 'tertiary', text: item.tertiary_text }) : null,
            ),
          ),
        ),
      )
    case 'data-table':
      return el(
        'dl',
        { class: 'c-table', 'data-component': c.id },
        ...c.items.flatMap((i) => [el('dt', { text: i.field }), el('dd', { text: i.value })]),
      )
    case 'divider':
      return el('hr', { class: 'c-divider' })
    case 'spacer':
      return el('div', { class: `c-spacer ${c.size ?? 's'}`, 'aria-hidden': 'true' })
    default:
      return el('p', { class: 'c-text muted', text: `(A "${c.type}" component, which this page does not draw.)` })
  }
}

function renderCanvas() {
  const box = $('#canvas')
  if (!ui.canvas) return
  const components = ui.canvas.json?.canvas?.content?.components ?? []
  box.replaceChildren(...components.map(renderComponent))
  $('#canvas-json').textContent = JSON.stringify(ui.canvas.json, null, 2)
}

/** Values of the canvas's inputs, as Intercom sends them in `input_values`. */
function inputValues() {
  const values = {}
  for (const control of $('#canvas').querySelectorAll('input, textarea, select')) {
    if (control.type === 'checkbox') {
      values[control.name] ??= []
      if (control.checked) values[control.name].push(control.value)
    } else values[control.name] = control.value
  }
  return values
}

/** Whether a teammate is in the middle of typing in the sidebar (then it is not refreshed under them). */
function canvasDirty() {
  const box = $('#canvas')
  if (box.contains(document.activeElement) && document.activeElement.matches('input, textarea')) return true
  return [...box.querySelectorAll('input[type=text], textarea')].some((c) => c.value !== c.defaultValue)
}

async function requestCanvas(body, { auto = false } = {}) {
  const conversationId = ui.conversationId
  ui.canvasBusy = true
  $('#canvas').setAttribute('aria-busy', 'true')
  for (const b of $('#canvas').querySelectorAll('button')) b.disabled = true
  try {
    const { canvas } = await post('/api/canvas', { conversationId, ...body })
    // A refresh nobody asked for never replaces what a teammate started typing meanwhile.
    if (conversationId !== ui.conversationId || (auto && canvasDirty())) return
    ui.canvas = { json: canvas, conversationId, at: Date.now(), componentId: body.componentId ?? null }
    showError('#canvas-error', null)
    renderCanvas()
  } catch (err) {
    showError('#canvas-error', err)
    for (const b of $('#canvas').querySelectorAll('button')) b.disabled = false
  } finally {
    ui.canvasBusy = false
    $('#canvas').setAttribute('aria-busy', 'false')
  }
}

function loadCanvas(options) {
  if (!ui.conversationId) return
  return requestCanvas({}, options)
}

function submitCanvas(componentId) {
  return requestCanvas({ componentId, inputValues: inputValues(), currentCanvas: ui.canvas?.json?.canvas ?? null })
}

/**
 * Intercom draws the app when the conversation is opened; here it is drawn again when something
 * changes (a status callback, a new part), unless a teammate is typing in it or reading Details.
 */
function refreshCanvasSoon() {
  if (!ui.conversationId || ui.canvasBusy) return
  if (!ui.canvas) return loadCanvas()
  if (ui.canvas.componentId === 'details' || canvasDirty()) return
  const wait = ui.canvas.at + 1500 - Date.now()
  clearTimeout(ui.canvasRetry)
  if (wait > 0) ui.canvasRetry = setTimeout(refreshCanvasSoon, wait)
  else loadCanvas({ auto: true })
}

// ---------- traffic ----------

function renderTraffic() {
  $('#traffic').replaceChildren(
    ...[...ui.state.deliveries]
      .reverse()
      .map((d) =>
        el(
          'tr',
          {},
          el('td', { text: clock(d.at) }),
          el('td', { text: d.service }),
          el('td', { text: d.kind }),
          el('td', {}, el('code', { text: d.path })),
          el('td', { text: d.status || 'no answer' }),
        ),
      ),
  )
  showTableOverflow()
}

/** On a narrow screen the table is wider than the page: say so, and shade the side with more columns. */
function showTableOverflow() {
  const wrap = $('#traffic-wrap')
  const more = wrap.scrollWidth - wrap.clientWidth
  $('#traffic-scroll-hint').hidden = !(more > 1)
  wrap.dataset.more = more > 1 ? (wrap.scrollLeft < more - 1 ? (wrap.scrollLeft > 0 ? 'both' : 'right') : 'left') : 'none'
}

function wireTraffic() {
  $('#traffic-wrap').addEventListener('scroll', showTableOverflow, { passive: true })
  $('#traffic-details').addEventListener('toggle', showTableOverflow)
  window.addEventListener('resize', showTableOverflow)
}

// ---------- wiring ----------

function render() {
  if (!ui.state) return
  renderCustomers()
  renderPhone()
  renderInbox()
  renderTraffic()
}

function connect() {
  const events = new EventSource('/api/events')
  events.onopen = () => {
    $('#connection').textContent = 'Live'
    $('#connection').dataset.live = 'true'
  }
  events.onerror = () => {
    $('#connection').textContent = 'Reconnecting to the demo…'
    $('#connection').dataset.live = 'false'
  }
  events.onmessage = (e) => {
    const first = !ui.state
    ui.state = JSON.parse(e.data)
    render()
    if (first) loadCanvas()
    else refreshCanvasSoon()
  }
}

wirePhone()
wireInbox()
wireTraffic()
connect()
