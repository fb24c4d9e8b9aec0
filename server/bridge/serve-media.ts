import { Readable } from 'node:stream'
import type { Executor } from '../../shared/db/database.js'
import { getHeldMediaInfo, heldMediaSlice } from '../../shared/db/media.js'
import { getMessage } from '../../shared/db/messages.js'
import { UpstreamError } from '../../shared/errors.js'
import { MMS_TYPES, extensionFor } from '../../shared/mime.js'
import type { Download } from '../clients/download.js'
import type { BridgeDeps } from './deps.js'
import { verifyHeldMediaToken, verifyMediaToken } from './media-links.js'

/** How much of a held file is read from the database at a time. */
export const HELD_SLICE_BYTES = 64 * 1024

/**
 * What a media link serves: a file (its bytes streaming), or why not. `not_found` covers an unknown
 * or expired token and a file Twilio no longer has; `failure` says what Twilio answered, for the log.
 */
export type ServedMedia =
  | { kind: 'file'; contentType: string; name: string; size: number | null; body: Readable }
  | { kind: 'not_found'; failure?: UpstreamError }
  | { kind: 'unsupported' }
  | { kind: 'upstream_failed'; failure: UpstreamError }

/**
 * The file behind a `/media/<token>` link (see media-links.ts): a teammate's file copied from
 * Intercom (held), or a customer's MMS picture, fetched from Twilio with our credentials as it is read.
 * Only the types an MMS carries are served from our domain.
 */
export async function openHeldOrInboundMedia(
  deps: Pick<BridgeDeps, 'store' | 'config' | 'twilio' | 'clock'>,
  token: string,
): Promise<ServedMedia> {
  const now = deps.clock.now()
  const heldId = verifyHeldMediaToken(deps.config, token, now)
  if (heldId !== null) return openHeld(deps.store.db, heldId)
  const ref = verifyMediaToken(deps.config, token, now)
  const message = ref && (await getMessage(deps.store.db, ref.messageId))
  const item = message && message.media[ref.position]
  if (!item) return { kind: 'not_found' }
  // Only what MMS carries is served from our domain, and no more than MMS carries.
  if (item.contentType && !MMS_TYPES.has(item.contentType.toLowerCase())) return { kind: 'unsupported' }
  let file: Download
  try {
    file = await deps.twilio.downloadMedia(item.url)
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    const gone = err.notFound || err.details.code === 'not_twilio_host'
    return gone ? { kind: 'not_found', failure: err } : { kind: 'upstream_failed', failure: err }
  }
  if (!MMS_TYPES.has(file.contentType)) {
    file.body.destroy()
    return { kind: 'unsupported' }
  }
  const name = `${message.twilio_sid ?? 'media'}-${ref.position + 1}.${extensionFor(file.contentType)}`
  return { kind: 'file', contentType: file.contentType, name, size: file.size, body: file.body }
}

async function openHeld(db: Executor, id: number): Promise<ServedMedia> {
  const held = await getHeldMediaInfo(db, id)
  if (!held) return { kind: 'not_found' }
  if (!MMS_TYPES.has(held.content_type)) return { kind: 'unsupported' }
  return { kind: 'file', contentType: held.content_type, name: held.name, size: held.size, body: heldFile(db, id, held.size) }
}

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
