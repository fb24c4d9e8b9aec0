/**
 * Twilio error codes the bridge meets when sending, in words a teammate can act on. `permanent`
 * errors are not retried: sending the same text again cannot succeed.
 */
export interface SendError {
  sentence: string
  permanent: boolean
  /** The customer opted out: no text may be sent until they opt back in. */
  optedOut?: boolean
}

export const TWILIO_ERRORS: Record<number, SendError> = {
  21211: { permanent: true, sentence: 'The phone number is not valid. Check the number on the contact.' },
  21408: {
    permanent: true,
    sentence: "Texting this country is not enabled on the Twilio account. Enable it in Twilio's Messaging geographic permissions.",
  },
  21610: {
    permanent: true,
    optedOut: true,
    sentence: 'The customer has opted out (they texted STOP). They must text START before they can be texted again.',
  },
  21611: { permanent: false, sentence: "The sending number's queue is full. The text will be retried." },
  21612: {
    permanent: true,
    sentence: 'Twilio cannot route a text between these two numbers (for example a landline or an unsupported carrier).',
  },
  21614: { permanent: true, sentence: 'The number is not a mobile number and cannot receive texts. Reach the customer another way.' },
  21617: { permanent: true, sentence: 'The reply is too long for a text message.' },
  21606: { permanent: true, sentence: 'The sending number cannot send texts. Check TWILIO_PHONE_NUMBER.' },
  21660: { permanent: true, sentence: 'The sending number does not belong to this Twilio account. Check TWILIO_PHONE_NUMBER.' },
  30003: { permanent: true, sentence: 'The phone is unreachable (switched off or out of coverage).' },
  30004: { permanent: true, sentence: 'The text was blocked: the customer may have blocked the number or their carrier refused it.' },
  30005: { permanent: true, sentence: 'The number is unknown or no longer in service.' },
  30006: { permanent: true, sentence: 'The number is a landline or cannot receive texts.' },
  30007: { permanent: true, sentence: 'The carrier filtered the text as spam. Rephrase it or register your sender.' },
  30008: { permanent: true, sentence: 'The carrier could not deliver the text, for an unknown reason.' },
  21910: { permanent: true, sentence: 'Twilio refused to send between two different channels (an SMS number and a WhatsApp address).' },
  63003: { permanent: true, sentence: 'The number is not on WhatsApp, so the message could not be delivered there.' },
  63007: { permanent: true, sentence: 'The WhatsApp sender the customer wrote to is not set up in this Twilio account any more.' },
  63016: {
    permanent: true,
    sentence:
      "WhatsApp only allows a free-form reply within 24 hours of the customer's last message. Ask them to write again, or reach them by SMS or email.",
  },
  63018: { permanent: false, sentence: "WhatsApp's rate limit for this sender was reached. The message will be retried." },
  63024: { permanent: true, sentence: 'WhatsApp refused the recipient: the number cannot receive WhatsApp messages.' },
  // RCS through a Messaging Service (twilio.com/docs/api/errors/63106): the phone cannot take RCS.
  // With an SMS sender in the service Twilio sends the text again by SMS (a new MessageSid, linked by
  // server/bridge/status.ts); this reaches the team only when no fallback came.
  63106: {
    permanent: true,
    sentence:
      "The customer's phone cannot receive RCS messages, and no SMS was sent in its place. Add an SMS-capable number to the Messaging Service so that Twilio can fall back to SMS.",
  },
  30034: { permanent: true, sentence: 'US texts from this number are blocked until it is registered for A2P 10DLC in Twilio.' },
  30032: {
    permanent: true,
    sentence:
      'This toll-free number is not verified yet: carriers block its texts until Twilio verifies it (Console > Phone Numbers > Toll-free verification).',
  },
  // Since 2026-07 for both A2P 10DLC and toll-free verification (Twilio's changelog, 2026-07-17).
  30915: {
    permanent: true,
    sentence:
      "The number's registration was refused: it was filed as a Sole Proprietor, but the business is a registered company (an LLC or corporation). Register it again in Twilio as a Standard or Low-Volume Standard brand.",
  },
}

export function describeTwilioError(code: number | null | undefined, fallback?: string): string {
  if (code && TWILIO_ERRORS[code]) return TWILIO_ERRORS[code].sentence
  return fallback ? `Twilio could not send the text: ${fallback}` : 'Twilio could not send the text.'
}

/**
 * What the last text's failure means for the next one, for the sidebar: a landline stays a landline,
 * an unreachable phone may come back. Undefined when the failure says nothing about the number.
 */
export function nextTextOutlook(code: number | null | undefined): string | undefined {
  switch (code) {
    case 21614:
    case 30006:
      return 'The last text did not arrive: this number is a landline or cannot receive texts. The next text will fail the same way: save a mobile number, or reach the customer another way.'
    case 21211:
    case 30005:
      return 'The last text did not arrive: this number is unknown or no longer in service. Check the number before texting again.'
    case 30003:
      return 'The last text did not arrive: the phone was switched off or out of coverage. The next text may arrive once it is back on.'
    case 30007:
      return 'The last text was filtered by the carrier as spam. Rephrase the next one.'
    case 30034:
    case 30032:
    case 30915:
      return `The last text was blocked: ${TWILIO_ERRORS[code]!.sentence} Every text to US numbers fails the same way until then.`
    case 63016:
      return 'The last WhatsApp message was refused: the 24-hour window is closed. The next one fails the same way until the customer writes again.'
    default:
      return code ? `The last text failed: ${describeTwilioError(code)} The next one may fail the same way.` : undefined
  }
}
