import type { FastifyPluginAsync } from 'fastify'
import { parse as parseQuery } from 'fast-querystring'
import { z } from 'zod'
import { splitAddress } from '../../shared/channel.js'
import { AppError } from '../../shared/errors.js'
import { answersProbes, parseBody } from '../../shared/http.js'
import { receiveText } from '../bridge/inbound.js'
import type { InboundText } from '../../shared/db/messages.js'
import { receiveStatus } from '../bridge/status.js'
import { signedBy } from './signed-by.js'

/** The largest Twilio webhook body: the text (up to 1600 characters, percent-encoded), media and metadata. */
export const TWILIO_BODY_LIMIT = 32 * 1024
/** The most parameters a Twilio webhook carries (WhatsApp with ten media items has about 60). */
export const TWILIO_MAX_FIELDS = 150

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

const sid = (prefix: string) => z.string().regex(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), `expected a ${prefix}... sid`)

type Form = Record<string, string | string[] | undefined>

const messageSid = z.union([sid('SM'), sid('MM')])

/**
 * Captured webhooks from older accounts name the message only SmsSid (and the status SmsStatus):
 * MessageSid wins where both are sent, as Twilio documents them as the same value.
 */
function legacyNames(form: Form): Form {
  return { ...form, MessageSid: form.MessageSid ?? form.SmsMessageSid ?? form.SmsSid, MessageStatus: form.MessageStatus ?? form.SmsStatus }
}

// Only what the bridge reads; Twilio adds parameters over time and they must not break anything.
const inboundForm = z.looseObject({
  MessageSid: messageSid,
  AccountSid: sid('AC'),
  From: z.string().min(1).max(64),
  To: z.string().min(1).max(64),
  // The embedded database would cut a text at a NUL; Twilio never sends one.
  Body: z
    .string()
    .max(1600)
    .refine((v) => !v.includes('\u0000'), 'must not contain a NUL character')
    .default(''),
  NumMedia: z.coerce.number().int().min(0).max(10).default(0),
  NumSegments: z.coerce.number().int().min(0).optional(),
  // Advanced Opt-Out (Messaging Services): Twilio's verdict on the text, custom and localised keywords included.
  OptOutType: z
    .string()
    .max(32)
    .transform((v) => v.trim().toUpperCase())
    .optional(),
  // A WhatsApp location: no Body, the place in these.
  Latitude: z.coerce.number().min(-90).max(90).optional().catch(undefined),
  Longitude: z.coerce.number().min(-180).max(180).optional().catch(undefined),
  Address: z.string().max(500).optional().catch(undefined),
  Label: z.string().max(200).optional().catch(undefined),
})

/** The words Intercom shows for a shared location (WhatsApp sends no Body with one). */
function locationText(f: {
  Latitude?: number | undefined
  Longitude?: number | undefined
  Address?: string | undefined
  Label?: string | undefined
}): string | null {
  if (f.Latitude === undefined || f.Longitude === undefined) return null
  const place = [f.Label, f.Address].filter(Boolean).join(', ')
  return `📍 Shared a location${place ? `: ${place}` : ''} https://www.google.com/maps?q=${f.Latitude},${f.Longitude}`
}

/** Validates a signed form: the parsed values, or a 400 naming the first bad field. */
function parseForm<S extends z.ZodType>(schema: S, form: Form): z.output<S> {
  return parseBody(schema, legacyNames(form), 'invalid_form')
}

function mediaOf(form: Form, count: number) {
  const media = []
  for (let i = 0; i < count; i++) {
    const url = form[`MediaUrl${i}`]
    if (typeof url === 'string' && url) {
      const contentType = form[`MediaContentType${i}`]
      media.push({ url, contentType: typeof contentType === 'string' ? contentType : 'application/octet-stream' })
    }
  }
  return media
}

const twilio: FastifyPluginAsync = async (app) => {
  answersProbes(app, '/twilio/sms', 'Twilio incoming messages')
  app.post('/twilio/sms', signedBy(app, 'twilio'), async (req, reply) => {
    const form = req.body as Form
    const f = parseForm(inboundForm, form)
    // SMS, WhatsApp and RCS share this webhook; any other channel (Messenger...) cannot be answered
    // from the inbox, so it is refused here rather than threaded half-way.
    const sender = splitAddress(f.From)
    if (sender.channel === null) {
      throw new AppError(
        'unsupported_channel',
        `Messages from the "${sender.scheme.slice(0, 20)}" channel are not supported; the bridge handles SMS, MMS, RCS and WhatsApp.`,
        422,
      )
    }
    const optOut = f.OptOutType === 'STOP' || f.OptOutType === 'START' || f.OptOutType === 'HELP' ? f.OptOutType : null
    const text: InboundText = {
      sid: f.MessageSid,
      from: f.From,
      to: f.To,
      optOutType: optOut,
      body: f.Body || locationText(f) || '',
      media: mediaOf(form, f.NumMedia),
      numSegments: f.NumSegments ?? null,
    }
    if (!(await receiveText(app.bridge, text))) req.log.info({ sid: f.MessageSid }, 'inbound text already stored; redelivery ignored')
    return reply.code(200).type('text/xml').send(EMPTY_TWIML)
  })
}

const statusForm = z.looseObject({
  MessageSid: messageSid,
  MessageStatus: z.string().min(1).max(32),
  ErrorCode: z.coerce.number().int().optional(),
  // Which channel carried it (rcs:<sender> for RCS) and, for a Messaging Service's SMS fallback of
  // an RCS text, what links the fallback to that text. Read only when well-formed.
  From: z.string().min(1).max(64).optional().catch(undefined),
  To: z.string().min(1).max(64).optional().catch(undefined),
  MessagingServiceSid: sid('MG').optional().catch(undefined),
})

const statusRoute: FastifyPluginAsync = async (app) => {
  answersProbes(app, '/twilio/status', 'Twilio status callbacks')
  app.post('/twilio/status', signedBy(app, 'twilio'), async (req, reply) => {
    const f = parseForm(statusForm, req.body as Form)
    await receiveStatus(app.bridge, {
      sid: f.MessageSid,
      status: f.MessageStatus,
      errorCode: f.ErrorCode ?? null,
      from: f.From,
      to: f.To,
      serviceSid: f.MessagingServiceSid,
    })
    return reply.code(204).send()
  })
}

export default async function routes(app: Parameters<FastifyPluginAsync>[0]) {
  // Twilio posts forms, and signs the form's parameters: any other body is refused with a 415.
  app.removeContentTypeParser(['application/json', 'text/plain'])
  // Twilio's forms are small (a 1600-character body, ten media links, a few dozen parameters).
  // Anything bigger, or with more fields, is refused before it is parsed or its signature computed:
  // otherwise an unsigned 256 KB form of 44,000 fields costs 20 times what a real text does.
  app.removeContentTypeParser('application/x-www-form-urlencoded')
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: TWILIO_BODY_LIMIT }, (_req, body, done) => {
    const text = body as string
    let fields = 1
    for (let i = text.indexOf('&'); i !== -1 && fields <= TWILIO_MAX_FIELDS; i = text.indexOf('&', i + 1)) fields++
    if (fields > TWILIO_MAX_FIELDS) {
      return done(
        Object.assign(new Error(`A Twilio webhook has at most ${TWILIO_MAX_FIELDS} parameters; this one has more.`), {
          statusCode: 413,
          code: 'too_many_fields',
        }),
        undefined,
      )
    }
    done(null, parseQuery(text))
  })
  await app.register(twilio)
  await app.register(statusRoute)
}
