import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { FastifyPluginAsync } from 'fastify'
import { getMessage, mediaOf } from '../../shared/db/messages.js'
import { getHeldMedia } from '../../shared/db/media.js'
import { verifyHeldMediaToken, verifyMediaToken } from '../bridge/media.js'

const NOT_FOUND = { error: { code: 'not_found', message: 'This media link is unknown or has expired.' } }

/**
 * MMS pictures for Intercom. Twilio's media URLs need the account's credentials, so Intercom gets a
 * signed, expiring link to this route instead, and the bridge fetches the file with the credentials.
 */
const media: FastifyPluginAsync = async (app) => {
  const twilioBase = new URL(app.config.twilio.apiBaseUrl ?? 'https://api.twilio.com')

  // Links are unguessable, but a flood of guesses still costs database reads: limit per client.
  app.get<{ Params: { token: string } }>('/media/:token', { logLevel: 'warn', config: { rateLimit: { max: 300, timeWindow: '1 minute' } } }, async (req, reply) => {
    const heldId = verifyHeldMediaToken(app.config, req.params.token)
    if (heldId !== null) {
      // A teammate's file, copied from Intercom: served from here, never sniffed or run as a page.
      const held = await getHeldMedia(app.store.db, heldId)
      if (!held) return reply.code(404).send(NOT_FOUND)
      const image = /^image\/(jpeg|png|gif|webp|bmp)$/.test(held.content_type)
      const name = held.name.replace(/[^\w.-]/g, '_').slice(0, 100) || 'file'
      return reply
        .header('content-type', held.content_type)
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('content-disposition', `${image ? 'inline' : 'attachment'}; filename="${name}"`)
        .header('cache-control', 'private, max-age=3600')
        .send(Buffer.from(held.bytes))
    }
    const ref = verifyMediaToken(app.config, req.params.token)
    const message = ref && (await getMessage(app.store.db, ref.messageId))
    const item = message && mediaOf(message)[ref.position]
    if (!item) return reply.code(404).send(NOT_FOUND)
    // Credentials go to Twilio's API host and nowhere else, whatever the stored URL says.
    const source = new URL(item.url)
    if (source.origin !== twilioBase.origin) {
      req.log.warn({ host: source.host }, 'media URL is not on the Twilio API host; not fetched')
      return reply.code(404).send(NOT_FOUND)
    }
    const auth = Buffer.from(`${app.config.twilio.accountSid}:${app.config.twilio.authToken}`).toString('base64')
    const upstream = await fetch(source, { headers: { authorization: `Basic ${auth}` }, signal: AbortSignal.timeout(15_000) })
    if (!upstream.ok || !upstream.body) {
      req.log.warn({ status: upstream.status }, 'Twilio did not serve the media')
      return reply.code(upstream.status === 404 ? 404 : 502).send(upstream.status === 404 ? NOT_FOUND : {
        error: { code: 'upstream_failed', message: 'Twilio did not serve this file; try again later.' },
      })
    }
    reply
      .header('content-type', upstream.headers.get('content-type') ?? item.contentType)
      .header('cache-control', 'private, max-age=3600')
      .header('x-content-type-options', 'nosniff')
    const length = upstream.headers.get('content-length')
    if (length) reply.header('content-length', length)
    return reply.send(Readable.fromWeb(upstream.body as WebReadableStream))
  })
}

export default media
