/**
 * Every key the bridge dedupes or orders work by, made in one place so two writers of the same key
 * always spell it alike. A job key makes a job once-only while it exists; an ordering key (a queue)
 * runs its jobs one at a time, in order; an automated-send key makes a text once-only for ever.
 */

/** Ordering keys: the work about one phone, one conversation or one contact runs in order. */
export const queues = {
  phone: (phone: string) => `phone:${phone}`,
  conversation: (conversationId: string) => `conversation:${conversationId}`,
  contact: (contactId: string) => `contact:${contactId}`,
}

/** Automated texts, once per key for ever. */
export const sendKeys = {
  welcome: (contactId: string) => `welcome:${contactId}`,
  series: (stepId: string, contactId: string) => `series:${stepId}:${contactId}`,
  confirmation: (contactId: string, phone: string) => `confirm:${contactId}:${phone}`,
}

/** Job keys, one per effect. */
export const jobKeys = {
  deliverInbound: (messageSid: string) => `inbound:${messageSid}`,
  tag: (conversationId: string) => `tag:${conversationId}`,
  keyword: (messageId: number) => `keyword:${messageId}`,
  reply: (partId: string) => `reply:${partId}`,
  mediaNote: (partId: string) => `medianote:${partId}`,
  /** The note that a part was not (or not wholly) texted because of its type. */
  partNote: (partId: string) => `partnote:${partId}`,
  markRead: (partId: string) => `read:${partId}`,
  /** The note of how many texts and segments a reply became. */
  segmentsNote: (partId: string) => `segmentsnote:${partId}`,
  notifyFailure: (messageId: number) => `notify:${messageId}`,
  /** Linking a status callback of an unknown MessageSid (an SMS fallback of an RCS text) and applying it. */
  fallback: (sid: string, status: string) => `fallback:${sid}:${status}`,
  /** The look, after RCS failed, at whether an SMS fallback came. */
  fallbackCheck: (messageId: number) => `fallbackcheck:${messageId}`,
  /** The note that a job ran out of attempts (its id is unique for ever). */
  gaveUp: (jobId: number) => `gaveup:${jobId}`,
  syncContact: (messageId: number, status: string) => `sync:${messageId}:${status}`,
  /** The last text's status written on the contact a merge moved our texts to. */
  syncMerged: (from: string, into: string) => `syncmerged:${from}:${into}`,
  sendAutomated: (sendKey: string) => `auto:${sendKey}`,
  noteAutomated: (sendKey: string) => `autonote:${sendKey}`,
  panelSend: (messageId: number) => `panel:${messageId}`,
  panelNote: (messageId: number) => `panelnote:${messageId}`,
  /** A number moved between contacts: one note per move (the same move twice is two notes). */
  relinkNote: (phone: string, contactId: string, at: number) => `relink:${phone}:${contactId}:${at}`,
  savePhone: (contactId: string, phone: string, at: number) => `savephone:${contactId}:${phone}:${at}`,
  /** The bridge's mark for a link, written on the contact once. */
  mark: (phone: string, contactId: string) => `mark:${phone}:${contactId}`,
  /** The note naming other contacts with the number, once per conversation. */
  othersNote: (conversationId: string) => `others:${conversationId}`,
  /** A teammate merged the bridge's lead into a user. */
  merge: (from: string, into: string) => `merge:${from}:${into}`,
  mergeNote: (from: string, into: string) => `mergenote:${from}:${into}`,
  /** Blanking one text's body at Twilio (an erasure). */
  redact: (sid: string) => `redact:${sid}`,
  /** Recurring jobs: one each, whichever process queues it. */
  catchUp: () => 'inbound.catchup',
  prune: () => 'maintenance.prune',
  checkpoint: () => 'maintenance.checkpoint',
}
