import type { ContactAttribute } from '../clients/intercom.js'

/**
 * The custom contact attributes the bridge writes, each defined once: `setup` creates them ahead of
 * time, and each writer makes sure its own exists before writing it (Intercom refuses unknown ones).
 */
export const CONTACT_ATTRIBUTES = {
  /** Written by a STOP or START keyword (keywords.ts). */
  optedOut: { name: 'sms_opted_out', dataType: 'boolean', description: 'The contact texted STOP and may not be sent SMS' },
  /** Messenger consent (sidebar.ts). Not `sms_consent`: that name is Intercom's own field. */
  consent: {
    name: 'sms_bridge_consent',
    dataType: 'boolean',
    description: 'The contact agreed to receive text messages (recorded by the SMS bridge)',
  },
  /** The last text sent and its delivery status (status.ts). */
  lastSmsSid: { name: 'last_sms_sid', dataType: 'string', description: 'Twilio MessageSid of the last text sent to this contact' },
  lastSmsStatus: { name: 'last_sms_status', dataType: 'string', description: 'Delivery status of the last text sent to this contact' },
  /** The bridge's mark for the contact's number (trust.ts; written by links.ts and sidebar.ts). */
  phoneMark: {
    name: 'sms_bridge_phone_mark',
    dataType: 'string',
    description: "Set by the SMS bridge: proves the bridge linked this contact's phone number (a keyed hash). Do not edit.",
  },
} as const satisfies Record<string, ContactAttribute>

/**
 * What `sms-bridge setup` creates, in this order. The phone mark is left to its first writer, as
 * before: setup's output and the attributes it makes stay as operators know them.
 */
export const SETUP_ATTRIBUTES: readonly ContactAttribute[] = [
  CONTACT_ATTRIBUTES.optedOut,
  CONTACT_ATTRIBUTES.consent,
  CONTACT_ATTRIBUTES.lastSmsSid,
  CONTACT_ATTRIBUTES.lastSmsStatus,
]
