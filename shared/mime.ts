// What the bridge knows of file types, in one place: which an MMS carries, how large, which are
// pictures shown inline (everything else is a download), and the extension each is named with.

/** Twilio takes files up to 5 MB in an MMS; a larger one could not be sent anyway. */
export const MAX_MMS_BYTES = 5 * 1024 * 1024

/**
 * The media types Twilio accepts in an MMS: the only ones served from our domain. Pictures are
 * shown inline; everything else is a download, never a page.
 */
export const MMS_TYPES: ReadonlySet<string> = new Set([
  'image/jpeg',
  'image/jpg',
  'image/gif',
  'image/png',
  'image/bmp',
  'image/webp',
  'image/tiff',
  'audio/basic',
  'audio/l24',
  'audio/mp4',
  'audio/mpeg',
  'audio/ogg',
  'audio/vorbis',
  'audio/vnd.rn-realaudio',
  'audio/vnd.wave',
  'audio/3gpp',
  'audio/3gpp2',
  'audio/ac3',
  'audio/webm',
  'audio/amr-nb',
  'audio/amr',
  'audio/wav',
  'audio/x-wav',
  'video/mpeg',
  'video/mp4',
  'video/quicktime',
  'video/webm',
  'video/3gpp',
  'video/3gpp2',
  'video/3gpp-tt',
  'video/h261',
  'video/h263',
  'video/h263-1998',
  'video/h263-2000',
  'video/h264',
  'text/vcard',
  'text/x-vcard',
  'text/directory',
  'text/calendar',
  'text/rtf',
  'text/csv',
  'text/plain',
  'application/pdf',
  'application/vcard',
  'application/rtf',
  'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
])

/** Pictures a browser shows safely: served inline; any other type is served as a download. */
const INLINE_TYPES = /^image\/(jpeg|jpg|png|gif|webp|bmp)$/

/** Whether a file of this type is shown (a picture) rather than downloaded. */
export function isShownInline(contentType: string): boolean {
  return INLINE_TYPES.test(contentType)
}

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
  'image/tiff': 'tiff',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/3gpp': '3gp',
  'video/3gpp2': '3g2',
  'video/webm': 'webm',
  'video/mpeg': 'mpg',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/ogg': 'ogg',
  'audio/amr': 'amr',
  'audio/wav': 'wav',
  'audio/3gpp': '3gp',
  'text/vcard': 'vcf',
  'text/x-vcard': 'vcf',
  'application/vcard': 'vcf',
  'text/calendar': 'ics',
  'text/plain': 'txt',
  'text/csv': 'csv',
  'application/pdf': 'pdf',
  'text/rtf': 'rtf',
  'application/rtf': 'rtf',
}

/** A type as compared here: lower case, without parameters ("image/JPEG; q=1" is "image/jpeg"). */
export function bareType(contentType: string | null | undefined): string {
  return (contentType ?? '').toLowerCase().split(';')[0]!.trim()
}

/** The extension a file of this type is named with ("jpg"), "bin" when the type is not known. */
export function extensionFor(contentType: string | null | undefined): string {
  return EXTENSIONS[bareType(contentType)] ?? 'bin'
}

/** Types a file host gives when it does not know: only these may be replaced by the declared type. */
const GENERIC_TYPES = new Set(['application/octet-stream', 'binary/octet-stream'])

/**
 * The type a copied file is served with from our domain to Twilio, or null when an MMS cannot carry
 * it. The fetched type wins; the type the webhook declared only names a file served as generic
 * bytes, so a declared picture never relabels a fetched page (text/html) or application/json.
 */
export function servedType(fetched: string, declared: string | null): string | null {
  if (MMS_TYPES.has(fetched)) return fetched
  const named = declared ? bareType(declared) : undefined
  return GENERIC_TYPES.has(fetched) && named && MMS_TYPES.has(named) ? named : null
}
