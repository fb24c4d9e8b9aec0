import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { getMessage } from '../../shared/db/messages.js'
import { AppError } from '../../shared/errors.js'
import { getHeldMediaInfo, heldMediaSlice } from '../../shared/db/media.js'
import { Readable } from 'node:stream'
import type { Executor } from '../../shared/db/database.js'
import { MMS_TYPES, fileHeaders, openFile, twilioMediaPolicy, verifyHeldMediaToken, verifyMediaToken } from '../bridge/media.js'

const notFound = () => new AppError('not_found', 'This media link is unknown or has expired.', 404)
const unsupported = () => new AppError('unsupported_media_type', 'Only the media types an MMS can carry are served here.', 415)

/** How much of a held file is read from the database at a time. */
export const HELD_SLICE_BYTES = 64 * 1024

/**
 * A held file, read from the database a slice at a time as the reader takes it: a reader that
 * stops reading holds one slice, not a copy of the file (40 such readers of a 5 MB file held 220 MB).
 */
function heldFile(db: Executor, id: number, size: number): Readable {
  return Readable.from(
    (async function* () {
      for (let offset = 0; offset < size; offset += HELD_SLICE_BYTES) {
        const slice = await heldMediaSlice(db, id, offset, HELD_SLICE_BYTES)
        // Pruned while it was read: the reader sees a cut-off download, not another file's bytes.
        if (slice.byteLength === 0) throw new Error('the held file is gone')
        yield Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength)
      }
    })(),
    { objectMode: false, highWaterMark: HELD_SLICE_BYTES },
  )
}

/**
 * MMS pictures for Intercom. Twilio's media URLs need the account's credentials, so Intercom gets a
 * signed, expiring link to this route instead, and the bridge fetches the file with the credentials.
 */
const media: FastifyPluginAsync = async (app) => {
  const twilioBase = new URL(app.config.twilio.apiBaseUrl ?? 'https://api.twilio.com')

  // Links are unguessable, but a flood of guesses still costs database reads: limit per client.
  // `/media/<token>/<name>`: the token says what to serve; the name (picture-1.jpg) is for Intercom,
  // which names the attachment after it. Links without a name, from before, still work.
  const options = { logLevel: 'warn', config: { rateLimit: { max: 300, timeWindow: '1 minute' } } } as const
  app.get<{ Params: { token: string } }>('/media/:token/:name', options, (req, reply) => serve(req.params.token, req, reply))
  app.get<{ Params: { token: string } }>('/media/:token', options, (req, reply) => serve(req.params.token, req, reply))

  async function serve(token: string, req: FastifyRequest, reply: FastifyReply) {
    const now = app.bridge.clock.now()
    const heldId = verifyHeldMediaToken(app.config, token, now)
    if (heldId !== null) {
      // A teammate's file, copied from Intercom.
      const held = await getHeldMediaInfo(app.store.db, heldId)
      if (!held) throw notFound()
      if (!MMS_TYPES.has(held.content_type)) throw unsupported()
      return reply.headers({ ...fileHeaders(held.content_type, held.name), 'content-length': String(held.size) }).send(heldFile(app.store.db, heldId, held.size))
    }
    const ref = verifyMediaToken(app.config, token, now)
    const message = ref && (await getMessage(app.store.db, ref.messageId))
    const item = message && message.media[ref.position]
    if (!item) throw notFound()
    // Credentials go to Twilio's API host and nowhere else, whatever the stored URL says.
    const source = new URL(item.url)
    if (source.origin !== twilioBase.origin) {
      req.log.warn({ host: source.host }, 'media URL is not on the Twilio API host; not fetched')
      throw notFound()
    }
    // Only what MMS carries is served from our domain, and no more than MMS carries.
    if (item.contentType && !MMS_TYPES.has(item.contentType.toLowerCase())) throw unsupported()
    const auth = Buffer.from(`${app.config.twilio.accountSid}:${app.config.twilio.authToken}`).toString('base64')
    // Passed through as Twilio sends it, with backpressure: a reader that stops reading holds a
    // socket's buffer, never the whole file.
    const file = await openFile(source.toString(), 'Twilio', twilioMediaPolicy(app.config), { headers: { authorization: `Basic ${auth}` } })
    if (!file.ok) {
      req.log.warn({ status: file.status }, 'Twilio did not serve the media')
      throw file.status === 404 ? notFound() : new AppError('upstream_failed', `Twilio did not serve this file: ${file.reason}.`, 502)
    }
    if (!MMS_TYPES.has(file.contentType)) {
      file.body.destroy()
      throw unsupported()
    }
    const name = `${message.twilio_sid ?? 'media'}-${ref.position + 1}.${file.contentType.split('/')[1]?.replace(/[^\w]/g, '') ?? 'bin'}`
    const length = file.size === null ? {} : { 'content-length': String(file.size) }
    return reply.headers({ ...fileHeaders(file.contentType, name), ...length }).send(file.body)
  }
}

export default media
