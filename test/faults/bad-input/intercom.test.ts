// Bad input on the Intercom webhook: see surface.ts for what every bad request must leave unchanged.
import t from 'tap'
import fc from 'fast-check'
import { signCanvas, signIntercomWebhook } from '../../../sandbox/intercom/index.js'
import { anyJson, badInputSurface, hmac, invalidUtf8Json, isJson, KNOWN_TOPICS, phone, phonesIn, type Probe, digits } from './surface.js'

t.test('bad input on the Intercom webhook: a clear 4xx, nothing stored, still serving, nothing sensitive logged', async (t) => {
  const { ctx, app, secrets, tables, countRows, probe, check, notification, intercomHeaders, afterwards } = await badInputSurface(t)

  await t.test('Intercom: random JSON and non-JSON, unsigned or wrongly signed: 401', async () => {
    await check(
      'Intercom webhooks with bad signatures',
      fc.asyncProperty(
        fc.oneof(
          anyJson.map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 60 }),
          fc.constant(JSON.stringify(notification('conversation.admin.replied', { id: '1' }))),
        ),
        fc.constantFrom('none', 'garbage', 'sha256', 'unprefixed', 'other-secret', 'upper-prefix', 'replayed'),
        async (raw, mode) => {
          const sha1 = (secret: string) => signIntercomWebhook(secret, raw)
          const signature =
            mode === 'none'
              ? undefined
              : mode === 'garbage'
                ? `sha1=${Buffer.from(raw.slice(0, 10)).toString('hex')}`
                : mode === 'sha256'
                  ? `sha256=${signCanvas(ctx.intercom.clientSecret, raw)}`
                  : mode === 'unprefixed'
                    ? sha1(ctx.intercom.clientSecret).slice(5)
                    : mode === 'upper-prefix'
                      ? `SHA1=${sha1(ctx.intercom.clientSecret).slice(5)}`
                      : mode === 'replayed'
                        ? signIntercomWebhook(
                            ctx.intercom.clientSecret,
                            JSON.stringify(notification('conversation.admin.replied', { id: '1' })),
                          )
                        : sha1('not-the-client-secret')
          // Invalid JSON may be refused before the signature is looked at; either way nothing is stored.
          await probe({ url: '/intercom/webhooks', headers: intercomHeaders(signature), payload: raw }, { status: [400, 401] })
        },
      ),
    )
  })

  await t.test('Intercom: signed, but not JSON or not a notification: 400', async () => {
    const notNotification = fc.oneof(
      anyJson.filter(
        (v) => typeof v !== 'object' || v === null || Array.isArray(v) || (v as Record<string, unknown>).type !== 'notification_event',
      ),
      // Not here: a missing id, a part without author, a numeric part id. Real notifications carry
      // nulls and odd types in such places, and the bridge accepts them (test/server/real-traffic.test.ts).
      fc
        .tuple(
          fc.constantFrom(
            'drop-topic',
            'drop-data',
            'empty-topic',
            'data-string',
            'item-id-bool',
            'parts-not-list',
            'attachments-not-list',
          ),
          phone,
        )
        .map(([how, p]) => {
          const n: any = notification('conversation.admin.replied', {
            type: 'conversation',
            id: '123',
            conversation_parts: {
              type: 'conversation_part.list',
              conversation_parts: [
                { id: '9', part_type: 'comment', body: `text ${p}`, author: { type: 'admin', id: '1' }, attachments: [] },
              ],
            },
          })
          const part = n.data.item.conversation_parts.conversation_parts[0]
          if (how === 'drop-topic') delete n.topic
          if (how === 'drop-data') delete n.data
          if (how === 'empty-topic') n.topic = ''
          if (how === 'data-string') n.data = p
          if (how === 'item-id-bool') n.data.item.id = true
          if (how === 'parts-not-list') n.data.item.conversation_parts.conversation_parts = p
          if (how === 'attachments-not-list') part.attachments = { url: p }
          return n
        }),
    )
    await check(
      'signed Intercom bodies that are not notifications',
      fc.asyncProperty(
        fc.oneof(
          notNotification.map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 40 }).filter((s) => !isJson(s)),
          fc.constantFrom('{', '{"type":', '[1,]', '\u0000', ''),
          invalidUtf8Json('topic'),
        ),
        async (raw) => {
          await probe(
            {
              url: '/intercom/webhooks',
              headers: intercomHeaders(hmac('sha1', ctx.intercom.clientSecret, raw, 'sha1=')),
              payload: raw,
              phones: phonesIn(raw.toString()),
            },
            { status: [400] },
          )
        },
      ),
    )
  })

  await t.test('Intercom: wrong content types: 4xx', async () => {
    await check(
      'Intercom webhooks with other content types',
      fc.asyncProperty(
        fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=xyz', 'application/xml', null),
        fc.boolean(),
        async (contentType, signed) => {
          const raw = JSON.stringify(notification('conversation.admin.replied', { id: '1' }))
          const headers: Record<string, string> = {
            ...(contentType ? { 'content-type': contentType } : {}),
            ...(signed ? { 'x-hub-signature': signIntercomWebhook(ctx.intercom.clientSecret, raw) } : {}),
          }
          await probe({ url: '/intercom/webhooks', headers, payload: raw }, { status: [400, 401, 415] })
        },
      ),
      30,
    )
  })

  await t.test(
    'Intercom: signed notifications of topics the bridge does not handle: 200 (never an error that counts towards a paused subscription), only a count stored; the test ping: 200, nothing stored',
    async () => {
      const topic = fc
        .oneof(
          fc.constantFrom(
            'company.created',
            'conversation.user.created',
            'conversation.user.replied',
            'conversation.admin.noted',
            'user.tag.created',
            'contact.deleted',
            'visitor.signed_up',
            'conversation.admin.replied ',
          ),
          fc.string({ minLength: 1, maxLength: 40 }),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
        )
        .filter((s) => !KNOWN_TOPICS.includes(s) && s !== 'ping')
      // Intercom's item is always an object (or null); any other item is a 400 whatever the topic.
      const item = fc.oneof(
        fc.constant(null),
        fc.record({ id: fc.string(), phone }),
        fc.dictionary(
          fc.string().filter((k) => k !== 'id' && k !== 'conversation_parts'),
          anyJson,
          { maxKeys: 5 },
        ),
      )
      await check(
        'signed unknown topics',
        fc.asyncProperty(topic, item, async (topicName, itemValue) => {
          const raw = JSON.stringify(notification(topicName, itemValue))
          const req = {
            url: '/intercom/webhooks',
            headers: intercomHeaders(signIntercomWebhook(ctx.intercom.clientSecret, raw)),
            payload: raw,
            phones: phonesIn(raw),
          }
          // The first time a topic is seen, its counter row for `doctor` is made.
          await probeAccepted(req, { settings_cache: [0, 1] })
        }),
      )
      await check(
        'the test ping',
        fc.asyncProperty(item, async (itemValue) => {
          const raw = JSON.stringify(notification('ping', itemValue))
          await probeAccepted(
            {
              url: '/intercom/webhooks',
              headers: intercomHeaders(signIntercomWebhook(ctx.intercom.clientSecret, raw)),
              payload: raw,
              phones: phonesIn(raw),
            },
            {},
          )
        }),
        30,
      )
    },
  )

  /** A signed notification the bridge accepts without acting on it: 200, and only the allowed rows. */
  async function probeAccepted(req: Probe, allow: Record<string, number | number[]>) {
    const before = await countRows()
    const logStart = ctx.logs.lines.length
    const res = await app.inject({ method: 'POST', url: req.url, headers: req.headers ?? {}, payload: req.payload })
    if (res.statusCode !== 200) throw new Error(`${req.url} answered ${res.statusCode}: ${res.body}`)
    const after = await countRows()
    for (const name of tables) {
      if (![allow[name] ?? 0].flat().includes(after[name]! - before[name]!)) throw new Error(`${name}: ${before[name]} -> ${after[name]}`)
    }
    const logged = ctx.logs.lines.slice(logStart).join('\n')
    for (const secret of secrets) if (logged.includes(secret)) throw new Error('a secret reached the logs')
    for (const p of req.phones ?? [])
      if (logged.includes(p) || logged.includes(digits(p))) throw new Error(`the phone number ${p} reached the logs`)
  }

  await afterwards()
})
