/**
 * Twilio's Messages API carries SMS, WhatsApp and RCS alike; a WhatsApp address is the E.164 number
 * with a `whatsapp:` prefix, on both ends; an RCS customer writes as `rcs:+E164` to `rcs:<sender>`. The bridge keys contacts by the bare number and remembers the
 * channel through our end's address (the sender the customer wrote to), so a reply goes back the way
 * the customer came.
 */
export type Channel = 'sms' | 'whatsapp' | 'rcs'

const PREFIX = 'whatsapp:'

/** Splits `whatsapp:+1415...` into its channel and number; a plain number is SMS; other schemes are not ours. */
export function splitAddress(raw: string): { channel: Channel; address: string } | { channel: null; scheme: string } {
  const scheme = /^([a-z][a-z0-9+.-]*):(?!\/\/)/i.exec(raw.trim())?.[1]?.toLowerCase()
  if (!scheme || scheme === 'tel' || scheme === 'sms') return { channel: 'sms', address: raw.trim().replace(/^(tel|sms):/i, '') }
  if (scheme === 'whatsapp') return { channel: 'whatsapp', address: raw.trim().slice(PREFIX.length) }
  // RCS (a Messaging Service with an RCS sender): the customer is their number; a reply goes to that
  // number through the Messaging Service, and Twilio picks RCS or falls back to SMS.
  if (scheme === 'rcs') return { channel: 'rcs', address: raw.trim().slice('rcs:'.length) }
  return { channel: null, scheme }
}

/**
 * The channel a reply goes out on, from our end's address (a number, a Messaging Service SID,
 * whatsapp:+..., or the rcs:<sender> a customer wrote to, whose replies go the SMS way: to the bare
 * number, through the Messaging Service, which sends by RCS where it can).
 */
export function channelOf(ourAddress: string | null | undefined): Exclude<Channel, 'rcs'> {
  return ourAddress?.startsWith(PREFIX) ? 'whatsapp' : 'sms'
}

/** The customer's address on the channel of `ourAddress`. */
export function customerAddress(phone: string, ourAddress: string | null | undefined): string {
  return channelOf(ourAddress) === 'whatsapp' ? `${PREFIX}${phone}` : phone
}
