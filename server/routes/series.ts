import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { AppError } from '../../shared/errors.js'
import { answersProbes, parseBody } from '../../shared/http.js'
import { requestSeriesText } from '../bridge/automated.js'
import { macroIdIn } from '../bridge/templates.js'
import { signedBy } from './signed-by.js'

const body = z
  .object({
    contact_id: z
      .string({ error: 'required: the Intercom contact id ({{contact.id}} in the webhook block)' })
      .trim()
      .min(1, 'must not be empty'),
    step_id: z
      .string({ error: 'required: a name for this Series step, so each contact gets it once' })
      .trim()
      .min(1, 'must not be empty')
      .max(100, 'must be at most 100 characters'),
    phone: z.string().trim().max(32, 'must be at most 32 characters').optional(),
    message: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(1600, 'must be at most 1600 characters')
      .refine((v) => !v.includes('\u0000'), 'must not contain a NUL character')
      .optional(),
    template: z.string().trim().min(1, 'must not be empty').optional(),
  })
  .refine((b) => Boolean(b.message) !== Boolean(b.template), { message: 'give either message or template, not both', path: ['message'] })

export const SERIES_BODY_LIMIT = 16 * 1024

/**
 * SMS steps in Intercom Series. Series webhooks are not signed, so the team configures a secret
 * header (`X-Bridge-Secret`) in the webhook block. Each (step, contact) is sent once.
 */
const series: FastifyPluginAsync = async (app) => {
  // The Webhook block posts JSON; a form (or anything else) is refused with a 415.
  app.removeContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'])
  answersProbes(app, '/intercom/series', 'Intercom Series webhook')
  app.post('/intercom/series', {
    // A step's body is a few ids and at most 1600 characters of text.
    bodyLimit: SERIES_BODY_LIMIT,
    // The secret is a header: checked before the body is read.
    ...signedBy(app, 'series'),
    handler: async (req, reply) => {
      const b = parseBody(body, req.body, 'invalid_request', { withField: true })
      // A macro is read when the text goes: one deleted by then is skipped with a note.
      if (b.template && macroIdIn(b.template) === null && !app.config.templates.has(b.template)) {
        const known = [...app.config.templates.keys()]
        const message = `template: unknown template "${b.template}"${known.length ? ` (known: ${known.join(', ')}; or macro:<id>)` : ' (SMS_TEMPLATES is empty; or macro:<id>)'}`
        throw new AppError('invalid_request', message, 400, { field: 'template' })
      }
      const { created, send } = await requestSeriesText(app.bridge, {
        stepId: b.step_id,
        contactId: b.contact_id,
        phone: b.phone ?? null,
        body: b.message ?? null,
        template: b.template ?? null,
      })
      return reply.code(202).send({ status: created ? 'queued' : 'duplicate', key: send.key, state: send.status })
    },
  })
}

export default series
