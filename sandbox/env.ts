import type { IntercomStandIn } from './intercom/index.js'
import type { TwilioStandIn } from './twilio/index.js'

export const PUBLIC_URL = 'https://sms-bridge.example.com'
export const OUR_NUMBER = '+14155550100'

/** The settings that wire the bridge to the loopback stand-ins, on a database file of its own. */
export function standInEnv(twilio: TwilioStandIn, intercom: IntercomStandIn, databaseFile: string): Record<string, string> {
  return {
    PUBLIC_URL,
    DATABASE_URL: `file:${databaseFile}`,
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_PHONE_NUMBER: OUR_NUMBER,
    TWILIO_API_BASE_URL: twilio.url,
    INTERCOM_ACCESS_TOKEN: intercom.token,
    INTERCOM_CLIENT_SECRET: intercom.clientSecret,
    INTERCOM_API_BASE_URL: intercom.url,
  }
}

/**
 * The simulators wired as the bridge's setup leaves them, for a service running as its own
 * process: the number's SMS URL and the app's webhook subscription point at the public URL, and each
 * webhook is posted `via` whichever process the caller picks, as fly.io's proxy would.
 */
export function wireWebhooks(twilio: TwilioStandIn, intercom: IntercomStandIn): void {
  twilio.addPhoneNumber(OUR_NUMBER)
  twilio.phoneNumbers.at(-1)!.sms_url = `${PUBLIC_URL}/twilio/sms`
  intercom.subscribeWebhooks({ url: `${PUBLIC_URL}/intercom/webhooks`, topics: ['conversation.admin.replied'] })
}
