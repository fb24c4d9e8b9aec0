import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { AppError } from '../../shared/errors.js'
import { listBroadcasts } from '../../shared/db/broadcasts.js'
import { broadcastCounts, broadcastReport, previewBroadcast } from '../bridge/broadcast-report.js'
import { controlBroadcast, createBroadcast, type Control } from '../bridge/broadcast.js'
import { MAX_FILE_ENTRIES } from '../bridge/broadcast-audience.js'

const ADMIN_LIMIT = { rateLimit: { max: 120, timeWindow: '1 minute' } }

const createBody = z.strictObject({
  audience: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.enum(['segment', 'tag']), id: z.string().regex(/^[\w-]{1,64}$/) }),
    z.strictObject({ kind: z.literal('file'), entries: z.array(z.string().trim().min(1).max(64)).min(1).max(MAX_FILE_ENTRIES) }),
  ]),
  template: z.string().trim().min(1).max(200),
  purpose: z.enum(['marketing', 'transactional']).default('marketing'),
  send_at: z.iso.datetime({ offset: true }).optional(),
})

const CREATE_REFUSED = {
  unknown_template: 'template: no such template (name one of SMS_TEMPLATES, or macro:<id>)',
  empty_file: 'audience.entries: lists nobody',
  file_too_long: `audience.entries: more than ${MAX_FILE_ENTRIES} contacts`,
  bad_audience: 'audience.id: letters, digits, - and _',
} as const

/**
 * Broadcasts through the admin API (behind admin.ts's Bearer token): create, preview, confirm,
 * pause, resume, cancel, status (counts) and report. The answers are codes and counts; the CLI words them.
 */
const adminBroadcasts: FastifyPluginAsync = async (app) => {
  const deps = () => app.bridge
  const idOf = (raw: string) => {
    if (/^[1-9]\d{0,14}$/.test(raw)) return Number(raw)
    throw new AppError('invalid_id', 'id: expected a broadcast number, e.g. /admin/broadcasts/7', 400)
  }
  const found = <T>(value: T | null, id: number): T => {
    if (value === null) throw new AppError('not_found', `No broadcast ${id}.`, 404)
    return value
  }

  app.get('/admin/broadcasts', { config: ADMIN_LIMIT }, async () => ({ broadcasts: await listBroadcasts(app.store.db) }))

  app.post('/admin/broadcasts', { config: ADMIN_LIMIT }, async (req, reply) => {
    const parsed = createBody.safeParse(req.body)
    if (!parsed.success)
      throw new AppError('invalid_body', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), 400)
    const { audience, template, purpose, send_at } = parsed.data
    const created = await createBroadcast(deps(), {
      audience,
      template,
      purpose,
      sendAt: send_at ? Date.parse(send_at) : null,
      requestedBy: 'admin-api',
    })
    if (!created.ok) throw new AppError(created.reason, CREATE_REFUSED[created.reason], 400)
    return reply.code(201).send({ id: created.id, state: 'expanding', listed: created.listed })
  })

  app.get<{ Params: { id: string } }>('/admin/broadcasts/:id', { config: ADMIN_LIMIT }, async (req) => {
    const id = idOf(req.params.id)
    const preview = found(await previewBroadcast(deps(), id), id)
    return { id, state: preview.broadcast.state, counts: await broadcastCounts(deps(), id) }
  })

  app.get<{ Params: { id: string } }>('/admin/broadcasts/:id/preview', { config: ADMIN_LIMIT }, async (req) => {
    const id = idOf(req.params.id)
    return found(await previewBroadcast(deps(), id), id)
  })

  app.get<{ Params: { id: string } }>('/admin/broadcasts/:id/report', { config: ADMIN_LIMIT }, async (req) => {
    const id = idOf(req.params.id)
    return found(await broadcastReport(deps(), id), id)
  })

  app.post<{ Params: { id: string; control: string } }>('/admin/broadcasts/:id/:control', { config: ADMIN_LIMIT }, async (req) => {
    const id = idOf(req.params.id)
    const control = req.params.control
    if (!['confirm', 'pause', 'resume', 'cancel'].includes(control)) {
      throw new AppError('not_found', 'POST /admin/broadcasts/<id>/confirm, pause, resume or cancel.', 404)
    }
    const outcome = await controlBroadcast(deps(), id, control as Control)
    if (outcome.ok) return { id, state: outcome.broadcast.state }
    if (outcome.reason === 'not_found') throw new AppError('not_found', `No broadcast ${id}.`, 404)
    throw new AppError(
      'wrong_state',
      `Broadcast ${id} is ${outcome.state}: it cannot be ${control === 'confirm' ? 'confirmed' : `${control}d`} now.`,
      409,
    )
  })
}

export default adminBroadcasts
