import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** Milliseconds since the Unix epoch. All timestamps are stored this way. */
export type Millis = number

/**
 * One phone number (E.164, or a short code / alphanumeric sender as received) and the Intercom
 * contact we settled on for it. Phone is not unique in Intercom, so this table is what prevents
 * duplicate contacts.
 */
export interface PhoneContactTable {
  phone: string
  intercom_contact_id: string
  contact_role: string | null
  created_by_bridge: ColumnType<number, number | undefined, number>
  /** How the number came to belong to the contact (server/bridge/trust.ts). */
  source: ColumnType<LinkSource, LinkSource | undefined, LinkSource>
  /** JSON: other contacts that carried the number when the bridge made its own lead for it. */
  others: ColumnType<string | null, string | null | undefined, string | null>
  /** When the bridge's mark was written on the Intercom contact; null until then. */
  marked_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>
  created_at: Millis
  updated_at: Millis
}

/**
 * Why a number belongs to a contact. `created`: the bridge made the lead from the number's own
 * text; `marked`: the contact carries the bridge's mark for the number (a keyed hash no visitor can
 * write); `user`: a user from the team's systems has the number; `verified`: the visitor proved it
 * with a texted code; `teammate`: a teammate linked it; `merged`: Intercom merged the linked contact
 * into this one (a teammate's or the team's own systems' doing); `legacy`: linked before these rules.
 */
export type LinkSource = 'created' | 'marked' | 'user' | 'verified' | 'teammate' | 'merged' | 'legacy'

/** The conversation that texts from and to a contact are threaded into. */
export interface SmsConversationTable {
  intercom_contact_id: string
  intercom_conversation_id: string
  phone: string
  /** Our Twilio number the customer last texted; replies go out from it. */
  twilio_number: string | null
  /** When Intercom last closed it; null while open. */
  closed_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>
  /** The time of the newest open/closed state applied, so a late notification cannot undo it. */
  state_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>
  created_at: Millis
  updated_at: Millis
}

/**
 * Every conversation texts were ever threaded into, a contact's older ones included: a teammate's
 * reply in any of them goes to this phone.
 */
export interface SmsConversationLinkTable {
  intercom_conversation_id: string
  intercom_contact_id: string
  phone: string
  twilio_number: string | null
  created_at: Millis
  updated_at: Millis
}

/** A teammate's picture or file, copied from Intercom's expiring upload link for Twilio to fetch. */
export interface HeldMediaTable {
  id: Generated<number>
  source_url: string
  content_type: string
  name: string
  bytes: Uint8Array
  created_at: Millis
}

export type MessageDirection = 'inbound' | 'outbound'

/** Twilio's own statuses of a message, as its API and status callbacks name them. */
export type TwilioStatus =
  | 'accepted'
  | 'scheduled'
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'undelivered'
  | 'failed'
  | 'canceled'
  | 'read'
  | 'receiving'
  | 'received'
  | 'partially_delivered'

/**
 * Where a text stands: Twilio's status, or one of ours. Inbound: `received`, then
 * `delivered_to_intercom`. Outbound: `pending` until Twilio accepts it, `refused` when the bridge
 * would not send it (opted out, consent), then Twilio's statuses.
 */
export type MessageStatus = TwilioStatus | 'pending' | 'refused' | 'delivered_to_intercom'

/** A picture or file a text carries: the link it is fetched from and its type. */
export interface MediaItem {
  url: string
  contentType: string
}

export interface MessageTable {
  id: Generated<number>
  direction: MessageDirection
  twilio_sid: string | null
  intercom_conversation_id: string | null
  intercom_contact_id: string | null
  /** The conversation part this text came from (outbound) or was posted as (inbound). */
  intercom_part_id: string | null
  /** Position of this text among the texts one long reply was split into. */
  part_index: ColumnType<number, number | undefined, number>
  /** The customer's number. */
  phone: string
  /** Our number (or Messaging Service SID) on the other end. */
  twilio_number: string | null
  body: string
  /** JSON array of MediaItem; read and written as an array by the repository only (shared/db/messages.ts). */
  media: ColumnType<string, string | undefined, string>
  num_segments: number | null
  status: MessageStatus
  error_code: number | null
  error_message: string | null
  /** When Twilio was last asked to send it (outbound). */
  send_attempted_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>
  /** When its body and media links were removed (retention or erasure); null while it has them. */
  redacted_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>
  /** The channel that carried it to the customer, as Twilio's status callbacks said (outbound); null until one says. */
  channel: ColumnType<DeliveryChannel | null, DeliveryChannel | null | undefined, DeliveryChannel | null>
  /**
   * The MessageSid of the SMS a Messaging Service sent in its place when RCS could not deliver it
   * (a second message of Twilio's); its statuses are this text's from then on.
   */
  fallback_sid: ColumnType<string | null, string | null | undefined, string | null>
  created_at: Millis
  updated_at: Millis
}

/** What carried a text: RCS, SMS (MMS included) or WhatsApp. */
export type DeliveryChannel = 'rcs' | 'sms' | 'whatsapp'

/** Keys of webhooks already accepted, so a redelivery has no second effect. */
export interface WebhookReceiptTable {
  source: string
  key: string
  received_at: Millis
}

export type ConsentState = 'opted_in' | 'opted_out'

export interface ConsentTable {
  phone: string
  state: ConsentState
  /** Explicit consent to be texted was given (for SMS_CONSENT=required). */
  consent_given: ColumnType<number, number | undefined, number>
  /** What changed it: a keyword, a Twilio error code, the Messenger app, an agent. */
  source: string
  changed_at: Millis
}

/** One consent change, appended, never updated: the ledger (what said so, when, and the words). */
export interface ConsentEventTable {
  id: Generated<number>
  phone: string
  state: ConsentState
  /** As `consent.source`: keyword, twilio:<code>, messenger, ... */
  source: string
  consent_given: ColumnType<number, number | undefined, number>
  /** The text that caused it (a keyword as the customer typed it). */
  text: string | null
  /** The Twilio MessageSid of that text, or of the text Twilio refused. */
  message_sid: string | null
  /** Our number (or Messaging Service SID) the text was sent to or from. */
  number: string | null
  /** The teammate who made the change. */
  actor: string | null
  conversation_id: string | null
  /** The Intercom contact that proved the number (Messenger verification). */
  contact_id: string | null
  created_at: Millis
}

export type JobState = 'waiting' | 'running' | 'dead'

export interface JobTable {
  id: Generated<number>
  task: string
  /** JSON text. */
  payload: string
  /** Deduplication key: a second enqueue with the same key is a no-op while the first job exists. */
  key: string | null
  /** Jobs sharing an ordering key run one at a time, in the order they were queued. */
  queue_key: string | null
  /** The job's lane (server/queue/lanes.ts), as its place in LANES: 0 reply, 1 inbound, 2 automated, 3 bulk. */
  lane: ColumnType<number, number | undefined, number>
  state: ColumnType<JobState, JobState | undefined, JobState>
  attempts: ColumnType<number, number | undefined, number>
  max_attempts: number
  run_at: Millis
  locked_by: string | null
  locked_until: Millis | null
  last_error: string | null
  created_at: Millis
  updated_at: Millis
}

export type AutomatedStatus = 'queued' | 'sent' | 'skipped'

export interface AutomatedSendTable {
  /** welcome:<contact>, series:<step>:<contact> or broadcast:<id>:<contact>: a second request with the same key does nothing. */
  key: string
  kind: 'welcome' | 'series' | 'confirmation' | 'workflow' | 'broadcast'
  intercom_contact_id: string
  phone: string | null
  body: string | null
  template: string | null
  status: AutomatedStatus
  /** Why it was skipped, in words the team can read. */
  reason: string | null
  message_id: number | null
  /** Who asked: the webhook topic, "series", or the admin in the sidebar. */
  requested_by: string | null
  created_at: Millis
  updated_at: Millis
}

/** A one-time code texted to a number a Messenger visitor typed, until they prove they hold it. */
export interface PhoneVerificationTable {
  id: Generated<number>
  intercom_contact_id: string
  phone: string
  /** HMAC of the code with a key derived from the client secret: the code itself is never stored. */
  code_hash: string
  expires_at: Millis
  attempts: ColumnType<number, number | undefined, number>
  sends: ColumnType<number, number | undefined, number>
  last_sent_at: Millis
  verified_at: Millis | null
  created_at: Millis
}

/**
 * How many texts outsiders caused, per scope and UTC day: a number, a contact, `all` (key: the kind
 * of text, `codes` or `welcomes`), and `submit` (Messenger "Text me" submits, key: the contact).
 */
export interface SendCountTable {
  scope: 'number' | 'contact' | 'all' | 'submit'
  key: string
  day: string
  count: number
}

/** A release that migrated this database: its version and the migrations it knew (a JSON array of names). */
export interface BridgeVersionTable {
  version: string
  migrations: string
  migrated_at: Millis
}

export interface SettingsCacheTable {
  key: string
  value: string
  updated_at: Millis
}

/** Twilio's SMS prices for one destination country, as the Pricing API last gave them. */
export interface PriceTable {
  iso_country: string
  /** Null: Twilio has no prices for this country. */
  price_unit: string | null
  /** JSON object: Twilio's number type -> price of one segment (a decimal string). */
  outbound: string
  /** When Twilio last answered. */
  fetched_at: Millis
  /** When a refresh last failed (Twilio unreachable, a 5xx); null after an answer. */
  failed_at: Millis | null
}

/** A quick reply texted with numbered options; the customer's next text settles it. */
export interface QuickReplyTable {
  /** The Intercom part that asked. */
  part_id: string
  intercom_conversation_id: string
  /** JSON array of { text, uuid }: the options in the order they were numbered. */
  options: string
  asked_at: Millis
  /** When the customer's next text arrived (whether or not it chose an option). */
  settled_at: Millis | null
}

/** A text that read like a request to stop texts (shared/revocation.ts), pending until resolved. */
export interface RevocationRequestTable {
  id: Generated<number>
  phone: string
  /** The inbound text (messages.id): one request per text. */
  message_id: number
  intercom_conversation_id: string | null
  /** The words that read as the request, normalised. */
  phrase: string
  asked_at: Millis
  /** YYYY-MM-DD: 10 business days after the text (public holidays not counted). */
  honour_by: string
  resolved_at: Millis | null
  /** `opted_out` (by any path) or `dismissed:<admin id>` (a teammate said it was not a request). */
  resolution: string | null
}

/**
 * Our number (E.164) a customer last wrote to or was last texted from, per customer number: what the
 * next text to them is sent from while it is still configured (server/bridge/senders.ts).
 */
export interface CustomerSenderTable {
  phone: string
  number: string
  /** When that text was made (inbound: received; outbound: created), so an older text never wins. */
  at: Millis
}

export type BroadcastState = 'expanding' | 'ready' | 'sending' | 'paused' | 'cancelled' | 'done' | 'failed'
export type BroadcastPurpose = 'marketing' | 'transactional'

/** One text to many contacts (`sms-bridge broadcast`, /admin/broadcasts). */
export interface BroadcastTable {
  id: Generated<number>
  /** An Intercom segment or tag (audience_ref: its id), or contacts listed in a file (their rows come first). */
  audience_kind: 'segment' | 'tag' | 'file'
  audience_ref: string | null
  /** A template reference (contract B): "macro:<id>" or a named template. */
  template: string
  purpose: BroadcastPurpose
  /** Not before this time; each recipient also waits for the end of their quiet hours. */
  send_at: Millis
  state: BroadcastState
  /** Intercom's `starting_after` for the audience's next page while expanding; null when done. */
  cursor: string | null
  pages: ColumnType<number, number | undefined, number>
  /** Lines of a file that named a number no contact is linked to (not stored: nobody to keep them for). */
  unmatched: ColumnType<number, number | undefined, number>
  failure: string | null
  created_by: string
  confirmed_at: Millis | null
  created_at: Millis
  updated_at: Millis
}

/** A text scheduled from the sidebar for later, in the customer's time (server/bridge/scheduled.ts). */
export interface ScheduledTextTable {
  id: Generated<number>
  intercom_contact_id: string
  intercom_conversation_id: string | null
  phone: string
  body: string
  send_at: Millis
  /** The IANA zone `send_at` was computed in, and the choice: `tomorrow`, `business_morning` or `chosen`. */
  time_zone: string
  choice: string
  admin_id: string | null
  admin_name: string | null
  /** scheduled -> sent | skipped | cancelled; scheduled -> held (the customer wrote first) -> sent | cancelled. */
  state: 'scheduled' | 'held' | 'sent' | 'cancelled' | 'skipped'
  /** Why it was held, skipped or cancelled, as an outcome code (the surfaces word it). */
  reason: string | null
  /** The outbound text it became (messages.id), set in the transaction that marks it sent. */
  message_id: number | null
  held_at: Millis | null
  created_at: Millis
  updated_at: Millis
}

export type RecipientState = 'listed' | 'excluded' | 'pending' | 'released'

export interface BroadcastRecipientTable {
  broadcast_id: number
  intercom_contact_id: string
  phone: string | null
  /** listed (a file's line, not yet looked at), excluded (reason says why), pending, released (sent once by automated_sends). */
  state: RecipientState
  /** Why excluded: a code the surfaces put into words (BROADCAST_EXCLUSIONS). */
  reason: string | null
  /** The rendered text until it is released (automated_sends then keeps it). */
  body: string | null
  segments: ColumnType<number, number | undefined, number>
  encoding: string | null
  cost: number | null
  cost_unit: string | null
  time_zone: string | null
  /** The recipient's quiet hours end then (0: now). */
  not_before: ColumnType<Millis, Millis | undefined, Millis>
  created_at: Millis
}

/** A sender's pace (server/bridge/pacing.ts); sender '*' is the brand, for its day count only. */
export interface SenderPacingTable {
  sender: string
  /** The earliest time the next text may go. */
  next_at: Generated<Millis>
  /** The last slot promised to a text told to wait: the next one waits one interval more. */
  promised_until: Generated<Millis>
  /** The carrier day (YYYY-MM-DD, Pacific time) `day_count` counts. */
  day: Generated<string>
  day_count: Generated<number>
  paused_at: Millis | null
  paused_why: 'carrier_filtering' | 'opt_outs' | null
  /** JSON: { refused, filtered, optedOut, of } when the pause set itself. */
  paused_detail: string | null
  updated_at: Millis
}

/** An automated or bulk text (messages.id) and what became of it: ok, filtered (30007), opted_out (21610), failed. */
export interface PacedTextTable {
  message_id: number
  sender: string
  lane: 'automated' | 'bulk'
  outcome: 'ok' | 'filtered' | 'opted_out' | 'failed' | null
  created_at: Millis
}

export interface Database {
  phone_contacts: PhoneContactTable
  sms_conversations: SmsConversationTable
  sms_conversation_links: SmsConversationLinkTable
  held_media: HeldMediaTable
  phone_verifications: PhoneVerificationTable
  send_counts: SendCountTable
  messages: MessageTable
  webhook_receipts: WebhookReceiptTable
  consent: ConsentTable
  consent_events: ConsentEventTable
  jobs: JobTable
  settings_cache: SettingsCacheTable
  automated_sends: AutomatedSendTable
  bridge_versions: BridgeVersionTable
  quick_replies: QuickReplyTable
  revocation_requests: RevocationRequestTable
  customer_senders: CustomerSenderTable
  broadcasts: BroadcastTable
  broadcast_recipients: BroadcastRecipientTable
  scheduled_texts: ScheduledTextTable
  prices: PriceTable
  sender_pacing: SenderPacingTable
  paced_texts: PacedTextTable
}

export type Job = Selectable<JobTable>
export type NewJob = Insertable<JobTable>
/** A stored text as the code sees it: its media parsed. */
export type Message = Omit<Selectable<MessageTable>, 'media'> & { media: MediaItem[] }
export type MessageUpdate = Omit<Updateable<MessageTable>, 'media' | 'updated_at'>
export type PhoneContact = Selectable<PhoneContactTable>
export type SmsConversation = Selectable<SmsConversationTable>
export type SmsConversationLink = Selectable<SmsConversationLinkTable>
export type HeldMedia = Selectable<HeldMediaTable>
export type PhoneVerification = Selectable<PhoneVerificationTable>
export type Consent = Selectable<ConsentTable>
export type RevocationRequest = Selectable<RevocationRequestTable>
export type ScheduledText = Selectable<ScheduledTextTable>
export type ConsentEvent = Selectable<ConsentEventTable>
export type AutomatedSend = Selectable<AutomatedSendTable>
export type Broadcast = Selectable<BroadcastTable>
export type BroadcastRecipient = Selectable<BroadcastRecipientTable>
