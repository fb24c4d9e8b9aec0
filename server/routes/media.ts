import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../shared/errors.js'
import { isShownInline } from '../../shared/mime.js'
import { openHeldOrInboundMedia } from '../bridge/serve-media.js'

const notFound = () => new AppError('not_found', 'This media link is unknown or has expired.', 404)
const unsupported = () => new AppError('unsupported_media_type', 'Only the media types an MMS can carry are served here.', 415)

/** Headers for a file served from our domain: its type, never sniffed, no scripts, a download unless a picture. */
export function fileHeaders(contentType: string, name: string): Record<string, string> {
  const safeName = name.replace(/[^\w.-]/g, '_').slice(0, 100) || 'file'
  return {
    'content-type': contentType,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'content-disposition': `${isShownInline(contentType) ? 'inline' : 'attachment'}; filename="${safeName}"`,
    'cache-control': 'private, max-age=3600',
  }
}

/**
 * MMS pictures for Intercom, and teammates' files for Twilio (server/bridge/serve-media.ts). Twilio's
 * media URLs need the account's credentials, so Intercom gets a signed, expiring link to this route
 * instead, and the bridge fetches the file with the credentials.
 */
const media: FastifyPluginAsync = async (app) => {
  // Links are unguessable, but a flood of guesses still costs database reads: limit per client.
  // `/media/<token>/<name>`: the token says what to serve; the name (picture-1.jpg) is for Intercom,
  // which names the attachment after it. Links without a name, from before, still work.
  const options = { logLevel: 'warn', config: { rateLimit: { max: 300, timeWindow: '1 minute' } } } as const
  app.get<{ Params: { token: string } }>('/media/:token/:name', options, (req, reply) => serve(req.params.token, req, reply))
  app.get<{ Params: { token: string } }>('/media/:token', options, (req, reply) => serve(req.params.token, req, reply))

  // Bytes pass through as they come, with backpressure: a reader that stops reading holds a
  // socket's buffer (or one slice of a held file), never the whole file.
  async function serve(token: string, req: FastifyRequest, reply: FastifyReply) {
    const served = await openHeldOrInboundMedia(app.bridge, token)
    if (served.kind === 'unsupported') throw unsupported()
    if (served.kind !== 'file') {
      if (served.failure) req.log.warn({ status: served.failure.status }, `Twilio did not serve the media: ${served.failure.message}`)
      if (served.kind === 'not_found') throw notFound()
      throw new AppError('upstream_failed', `Twilio did not serve this file: ${served.failure.message}.`, 502)
    }
    const length = served.size === null ? {} : { 'content-length': String(served.size) }
    return reply.headers({ ...fileHeaders(served.contentType, served.name), ...length }).send(served.body)
  }
}

export default media
