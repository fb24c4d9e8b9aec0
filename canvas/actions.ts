import type { SegmentInfo } from '../shared/text.js'
import type { PanelFlash, PanelState } from './views.js'

/** The contact a sidebar request is about, as Intercom's request describes them (role and profile included). */
export interface PanelContact {
  id: string
  role: string | null
  /** The phone on the contact's profile: a lead can set it from the Messenger. */
  phone: string | null
  custom_attributes: Record<string, unknown> | null
}

/** Who asked, from where: the Canvas Kit request, reduced to what the bridge needs. */
export interface PanelContext {
  contact: PanelContact
  conversationId: string | null
  adminId: string | null
  adminName: string | null
}

/** `startAgain`: the code step is over (expired, refused): the visitor types a number again. */
type Verified<T> = ({ ok: true } & T) | { ok: false; error: string; startAgain?: boolean }

/**
 * What the Canvas Kit surfaces ask the bridge for. The routes here check, parse and render; the
 * bridge (server/bridge/sidebar.ts, messenger.ts) reads its database and records and queues the
 * effects, and the app hands these in, so canvas/ never reaches into the service.
 */
export interface CanvasActions {
  /** Our workspace's id: requests naming another are refused. */
  workspaceId(): Promise<string>
  loadPanel(contact: PanelContact): Promise<PanelState>
  sendFromPanel(ctx: PanelContext, text: string): Promise<{ flash: PanelFlash; segments?: SegmentInfo }>
  welcomeFromPanel(ctx: PanelContext): Promise<PanelFlash>
  savePhone(ctx: PanelContext, typed: string, options?: { takeOver?: boolean }): Promise<PanelFlash>
  /** Merges the bridge's own lead for a number into a user who has the number too. */
  mergeContact(ctx: PanelContext, into: string): Promise<PanelFlash>
  subscribe(contactId: string, typed: string, agreed: boolean): Promise<{ ok: true; phone: string; verificationId: number } | { ok: false; phoneError?: string | undefined; consentError?: string | undefined }>
  /** The verification under way for this visitor, if it is theirs. */
  verification(contactId: string, verificationId: number): Promise<{ phone: string } | undefined>
  checkCode(contactId: string, verificationId: number, typed: string): Promise<Verified<{ phone: string }>>
  resendCode(contactId: string, verificationId: number): Promise<Verified<{ phone: string }>>
  completeSubscription(contactId: string, phone: string): Promise<{ ok: true } | { ok: false; error: string }>
}
