import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { AppError } from '../../shared/errors.js'
import { answersProbes, parseBody } from '../../shared/http.js'
import { requestConnectorText, type ConnectorName } from '../bridge/connector-texts.js'
import { signedBy } from './signed-by.js'

/** Where each data connector that `sms-bridge setup` makes calls the bridge. */
export const CONNECTOR_PATHS: Record<ConnectorName, string> = {
  workflows: '/connectors/workflows/sms',
  fin: '/connectors/fin/sms',
}

export const CONNECTOR_BODY_LIMIT = 8 * 1024
/** At most this many variables, each name a word. */
export const MAX_VARIABLES = 10

const id = (what: string) =>
  z
    .string({ error: `required: ${what}` })
    .trim()
    .min(1, 'must not be empty')
    .max(64, 'must be at most 64 characters')
    .regex(/^[\w-]+$/, 'must be an Intercom id')

/**
 * `variables` as the connector sends it: "name=value; other=value" (one data input, which a Workflow
 * fills from attributes and Fin from the conversation). Values stay untrusted: the renderer makes
 * them plain and capped.
 */
const variables = z
  .string()
  .max(1000, 'must be at most 1000 characters')
  .optional()
  .transform((text, ctx) => {
    const pairs = (text ?? '').split(';').filter((p) => p.trim() !== '')
    if (pairs.length > MAX_VARIABLES) ctx.addIssue({ code: 'custom', message: `must hold at most ${MAX_VARIABLES} variables` })
    const entries = pairs.map((p) => {
      const at = p.indexOf('=')
      const name = (at < 0 ? '' : p.slice(0, at)).trim()
      if (!/^[a-z_][a-z0-9_]{0,30}$/i.test(name)) ctx.addIssue({ code: 'custom', message: 'must be name=value pairs separated by ";"' })
      return [name, p.slice(at + 1).trim()] as const
    })
    return Object.fromEntries(entries)
  })

const body = z.object({
  contact_id: id("the contact's Intercom id"),
  conversation_id: z.union([id('the conversation id'), z.literal('')]).optional(),
  template: z
    .string({ error: 'required: "macro:<id>" or a template name from SMS_TEMPLATES' })
    .trim()
    .min(1, 'must not be empty')
    .max(100, 'must be at most 100 characters'),
  purpose: z.enum(['marketing', 'transactional'], { error: 'must be marketing or transactional' }).optional(),
  variables,
  step: z.string().trim().max(100, 'must be at most 100 characters').optional(),
})

/** The keys an Intercom data input could repeat if a value were pasted into the body unescaped. */
const TRUSTED_KEYS = ['contact_id', 'conversation_id', 'purpose', 'template']

/**
 * A value pasted unescaped into the connector's body template could add a key of its own (JSON keeps
 * the last of two): a body naming one of these twice is refused rather than guessed at.
 */
function refuseRepeatedKeys(raw: string): void {
  for (const key of TRUSTED_KEYS) {
    if ((raw.match(new RegExp(`(?<!\\\\)"${key}"\\s*:`, 'g')) ?? []).length > 1)
      throw new AppError('invalid_request', `${key}: given more than once`, 400, { field: key })
  }
}

/**
 * "Send SMS" for Workflows and Fin: Intercom's data connectors post here with the bearer token setup
 * gave them (checked before the body is read). The answer is 200 with a result a Workflow branches on;
 * a request the bridge cannot read is a 400, which Intercom's execution results show (and `doctor`).
 */
const connectors: FastifyPluginAsync = async (app) => {
  app.removeContentTypeParser(['application/json', 'application/x-www-form-urlencoded', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: CONNECTOR_BODY_LIMIT }, (_req, raw, done) => {
    try {
      refuseRepeatedKeys(raw as string)
      done(null, JSON.parse(raw as string))
    } catch (err) {
      done(err instanceof AppError ? err : new AppError('invalid_request', 'The body is not JSON.', 400))
    }
  })
  for (const connector of ['workflows', 'fin'] as const) {
    const path = CONNECTOR_PATHS[connector]
    answersProbes(app, path, `Send SMS data connector (${connector})`)
    app.post(path, {
      bodyLimit: CONNECTOR_BODY_LIMIT,
      ...signedBy(app, connector === 'workflows' ? 'workflows_connector' : 'fin_connector'),
      handler: async (req) => {
        const b = parseBody(body, req.body, 'invalid_request', { withField: true })
        if (connector === 'workflows' && !b.purpose)
          throw new AppError('invalid_request', 'purpose: required: marketing or transactional', 400)
        const { answer } = await requestConnectorText(app.bridge, {
          connector,
          contactId: b.contact_id,
          conversationId: b.conversation_id || null,
          template: b.template,
          // Fin's connector has no purpose input: what Fin sends answers the customer's own request.
          purpose: b.purpose ?? 'transactional',
          variables: b.variables,
          step: b.step ?? '',
        })
        return answer
      },
    })
  }
}

export default connectors
