/**
 * Twilio's Messages API carries SMS and WhatsApp alike; a WhatsApp address is the E.164 number with a
 * `whatsapp:` prefix, on both ends. The bridge keys contacts by the bare number and remembers the
 * channel through our end's address (the sender the customer wrote to), so a reply goes back the way
 * the customer came.
 */
export type Channel = 'sms' | 'whatsapp'

const PREFIX = 'whatsapp:'

/** Splits `whatsapp:+1415...` into its channel and number; a plain number is SMS; other schemes are not ours. */
export function splitAddress(raw: string): { channel: Channel; address: string } | { channel: null; scheme: string } {
  const scheme = /^([a-z][a-z0-9+.-]*):(?!\/\/)/i.exec(raw.trim())?.[1]?.toLowerCase()
  if (!scheme || scheme === 'tel' || scheme === 'sms') return { channel: 'sms', address: raw.trim().replace(/^(tel|sms):/i, '') }
  if (scheme === 'whatsapp') return { channel: 'whatsapp', address: raw.trim().slice(PREFIX.length) }
  return { channel: null, scheme }
}

/** The channel of a text, from our end's address (a number, a Messaging Service SID, or whatsapp:+...). */
export function channelOf(ourAddress: string | null | undefined): Channel {
  return ourAddress?.startsWith(PREFIX) ? 'whatsapp' : 'sms'
}

/** The customer's address on the channel of `ourAddress`. */
export function customerAddress(phone: string, ourAddress: string | null | undefined): string {
  return channelOf(ourAddress) === 'whatsapp' ? `${PREFIX}${phone}` : phone
}
