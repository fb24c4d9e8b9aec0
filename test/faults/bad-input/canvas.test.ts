// Bad input on the Canvas Kit apps: see surface.ts for what every bad request must leave unchanged.
import t from 'tap'
import fc from 'fast-check'
import { signCanvas, signIntercomWebhook } from '../../../sandbox/intercom/index.js'
import { anyJson, badInputSurface, CANVAS_PATHS, hmac, invalidUtf8Json, isJson, phone, phonesIn } from './surface.js'

t.test('bad input on the Canvas Kit apps: a clear 4xx, nothing stored, still serving, nothing sensitive logged', async (t) => {
  const { ctx, probe, check, afterwards } = await badInputSurface(t)

  await t.test('Canvas Kit: unsigned or wrongly signed: 401', async () => {
    await check(
      'Canvas requests with bad signatures',
      fc.asyncProperty(
        fc.constantFrom(...CANVAS_PATHS),
        anyJson,
        fc.constantFrom('none', 'garbage', 'sha1', 'other-secret', 'empty', 'replayed'),
        async (path, body, mode) => {
          const raw = JSON.stringify(body)
          const signature =
            mode === 'none'
              ? undefined
              : mode === 'empty'
                ? ''
                : mode === 'garbage'
                  ? 'ab'.repeat(32)
                  : mode === 'sha1'
                    ? signIntercomWebhook(ctx.intercom.clientSecret, raw).slice(5)
                    : mode === 'replayed'
                      ? signCanvas(ctx.intercom.clientSecret, `${raw} `)
                      : signCanvas('not-the-client-secret', raw)
          await probe(
            {
              url: path,
              headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'x-body-signature': signature }) },
              payload: raw,
            },
            { status: [401] },
          )
        },
      ),
    )
  })

  await t.test('Canvas Kit: signed requests without a usable contact, or with fields of the wrong type: a canvas saying so', async () => {
    const usableContact = (v: unknown) =>
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      ['contact', 'customer', 'user'].some((k) => {
        const c = (v as Record<string, any>)[k]
        return typeof c === 'object' && c !== null && typeof c.id === 'string' && c.id.length > 0
      })
    const request = fc.oneof(
      anyJson.filter((v) => !usableContact(v)),
      fc
        .tuple(
          fc.constantFrom(
            'no-contact',
            'id-number',
            'id-empty',
            'contact-string',
            'inputs-string',
            'inputs-list',
            'admin-list',
            'component-number',
            'conversation-bool',
            'phone-number',
          ),
          phone,
          fc.constantFrom('send_sms', 'save_phone', 'subscribe', 'send_welcome'),
        )
        .map(([how, p, component]) => {
          const r: any = {
            workspace_id: 'abc123xy',
            admin: { type: 'admin', id: '1', name: 'Sam' },
            conversation: { type: 'conversation', id: '42' },
            contact: { type: 'contact', id: 'c1', role: 'lead' },
            component_id: component,
            input_values: { sms_body: `text ${p}`, phone_input: p, phone: p, consent: ['agree'] },
          }
          if (how === 'no-contact') delete r.contact
          if (how === 'id-number') r.contact.id = 1
          if (how === 'id-empty') r.contact.id = ''
          if (how === 'contact-string') r.contact = p
          if (how === 'inputs-string') r.input_values = p
          if (how === 'inputs-list') r.input_values = [p]
          if (how === 'admin-list') r.admin = [p]
          if (how === 'component-number') r.component_id = 7
          if (how === 'conversation-bool') r.conversation = { id: true }
          if (how === 'phone-number') r.contact.phone = 14155550100
          return r
        }),
    )
    await check(
      'signed Canvas requests without a usable contact',
      fc.asyncProperty(
        fc.constantFrom(...CANVAS_PATHS),
        fc.oneof(
          request.map((body) => JSON.stringify(body)),
          invalidUtf8Json('component_id'),
        ),
        async (path, raw) => {
          // Our workspace's request without a usable contact: a canvas saying so (200); a body that
          // does not name our workspace: refused with a canvas saying so (403).
          const ours = (() => {
            try {
              return JSON.parse(raw.toString())?.workspace_id === 'abc123xy'
            } catch {
              return false
            }
          })()
          await probe(
            {
              url: path,
              headers: { 'content-type': 'application/json', 'x-body-signature': hmac('sha256', ctx.intercom.clientSecret, raw) },
              payload: raw,
              phones: phonesIn(raw.toString()),
            },
            { status: ours ? [200] : [200, 403], canvas: true },
          )
        },
      ),
    )
  })

  await t.test('Canvas Kit: signed but not JSON, or another content type: 4xx', async () => {
    await check(
      'Canvas requests that are not JSON',
      fc.asyncProperty(
        fc.constantFrom(...CANVAS_PATHS),
        fc.oneof(
          fc.string({ maxLength: 40 }).filter((s) => !isJson(s)),
          fc
            .uint8Array({ maxLength: 40 })
            .map((a) => Buffer.from(a).toString('latin1'))
            .filter((s) => !isJson(s)),
        ),
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
        async (path, raw, contentType) => {
          await probe(
            {
              url: path,
              headers: { 'content-type': contentType, 'x-body-signature': signCanvas(ctx.intercom.clientSecret, raw) },
              payload: raw,
            },
            { status: [400, 401, 415] },
          )
        },
      ),
      60,
    )
  })

  await afterwards()
})
