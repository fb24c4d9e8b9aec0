import { getConsent } from '../../shared/db/consent.js'
import type { BridgeDeps } from './deps.js'

export interface Refusal {
  code: 'opted_out' | 'consent_required'
  /** For the team: a note, the sidebar, the skip record. */
  sentence: string
}

/**
 * The one answer to "may we text this number now?", for every outbound path. An opt-out (a STOP
 * keyword, or Twilio's 21610) always refuses. With SMS_CONSENT=required, automated texts (welcome,
 * Series) also need the contact's `sms_consent` attribute or consent recorded by the bridge; a reply
 * to a customer who texted us is conversational and needs no more than not having opted out.
 */
export async function textingRefusal(
  deps: Pick<BridgeDeps, 'store' | 'config'>,
  request: { phone: string; automated: boolean; contactAttributes?: Record<string, unknown> | null },
): Promise<Refusal | null> {
  const consent = await getConsent(deps.store.db, request.phone)
  if (consent?.state === 'opted_out') {
    const how = consent.source === 'keyword' ? 'texted STOP' : consent.source.startsWith('twilio:') ? `Twilio reported error ${consent.source.slice(7)}` : consent.source
    const when = new Date(consent.changed_at).toISOString().slice(0, 10)
    return { code: 'opted_out', sentence: `The customer opted out of text messages (${how}, ${when}). They must text START to receive texts again.` }
  }
  if (request.automated && deps.config.consentMode === 'required') {
    const given = consent?.consent_given === 1 || request.contactAttributes?.sms_consent === true
    if (!given) {
      return { code: 'consent_required', sentence: 'The contact has not agreed to receive text messages (SMS_CONSENT=required and sms_consent is not true).' }
    }
  }
  return null
}
