import type { IntercomStandIn, Conversation } from '../../sandbox/intercom.js'
import { signIntercomWebhook } from '../../sandbox/intercom.js'
import type { TwilioStandIn } from '../../sandbox/twilio.js'
import { signTwilio } from '../../sandbox/twilio.js'
import { OUR_NUMBER, PUBLIC_URL } from '../../sandbox/env.js'

/**
 * Traffic against service processes as Twilio and Intercom send it: real HTTP, signed, with the
 * outcome of each POST (a process killed under a request answers nothing).
 */
export class Traffic {
  constructor(
    private readonly twilio: TwilioStandIn,
    private readonly intercom: IntercomStandIn,
  ) {}

  /** A customer's text: it is in Twilio's log first, then the webhook is posted once. */
  async text(baseUrl: string, from: string, body: string): Promise<boolean> {
    const m = this.twilio.addInboundMessage({ from, to: OUR_NUMBER, body })
    const form = { MessageSid: m.sid, AccountSid: this.twilio.accountSid, From: from, To: OUR_NUMBER, Body: body, NumMedia: '0' }
    return this.post(`${baseUrl}/twilio/sms`, 'application/x-www-form-urlencoded', new URLSearchParams(form).toString(), {
      'x-twilio-signature': signTwilio(this.twilio.authToken, `${PUBLIC_URL}/twilio/sms`, form),
    })
  }

  /** A teammate's reply: the part is added in Intercom, and a function posts its webhook (again, as Intercom retries). */
  reply(conversation: Conversation, text: string): (baseUrl: string) => Promise<boolean> {
    const part = this.intercom.addAdminReply(conversation.id, { body: `<p>${text}</p>` })
    const raw = JSON.stringify(this.intercom.notification('conversation.admin.replied', conversation.id, [part]))
    return (baseUrl) =>
      this.post(`${baseUrl}/intercom/webhooks`, 'application/json', raw, { 'x-hub-signature': signIntercomWebhook(this.intercom.clientSecret, raw) })
  }

  /** The conversation of the contact with this phone number, once Intercom has one. */
  conversationOf(phone: string): Conversation | undefined {
    const contact = this.intercom.contacts.find((x) => x.phone === phone)
    return contact && this.intercom.conversations.find((x) => x.contacts.some((y) => y.id === contact.id))
  }

  /** Texts in Intercom: conversation sources and customer comments, in conversation order. */
  textsInIntercom(conversation?: Conversation): string[] {
    const conversations = conversation ? [conversation] : this.intercom.conversations
    return conversations.flatMap((c) => [
      c.source.body ?? '',
      ...c.parts.filter((p) => p.part_type === 'comment' && p.author.type !== 'admin').map((p) => p.body ?? ''),
    ])
  }

  /** Bodies of the texts the bridge asked Twilio to send. */
  textsSent(): string[] {
    return this.twilio.requests
      .filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json') && r.status >= 200 && r.status < 300)
      .map((r) => String((r.body as { Body?: string }).Body ?? ''))
  }

  private async post(url: string, contentType: string, body: string, headers: Record<string, string>): Promise<boolean> {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body })
      await res.arrayBuffer()
      return res.status >= 200 && res.status < 300
    } catch {
      return false
    }
  }
}

/** `job started` debug lines from service logs: job id → the pids that started it. */
export function jobStarts(...outputs: string[]): Map<number, number[]> {
  const starts = new Map<number, number[]>()
  for (const output of outputs) {
    for (const line of output.split('\n')) {
      if (!line.includes('"job started"')) continue
      const record = JSON.parse(line) as { job: number; pid: number }
      starts.set(record.job, [...(starts.get(record.job) ?? []), record.pid])
    }
  }
  return starts
}
