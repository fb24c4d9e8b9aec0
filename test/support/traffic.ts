import type { Test } from 'tap'
import type { Delivery } from '../../sandbox/http.js'
import { startIntercomStandIn, type Conversation, type IntercomStandIn } from '../../sandbox/intercom/index.js'
import { startTwilioStandIn, type TwilioStandIn } from '../../sandbox/twilio/index.js'
import { wireWebhooks } from '../../sandbox/env.js'

/** The bridge answered the webhook with a 2xx (a process killed under it answers nothing). */
export function accepted(delivery: Delivery | null): boolean {
  return delivery !== null && delivery.status >= 200 && delivery.status < 300
}

/** The conversation of the contact with this phone number, once Intercom has one. */
export function conversationOf(intercom: IntercomStandIn, phone: string): Conversation | undefined {
  const contact = intercom.contacts.find((x) => x.phone === phone)
  return contact && intercom.conversations.find((x) => x.contacts.some((y) => y.id === contact.id))
}

/** Texts in Intercom: conversation sources and customer comments, in conversation order. */
export function textsInIntercom(intercom: IntercomStandIn, conversation?: Conversation): string[] {
  const conversations = conversation ? [conversation] : intercom.conversations
  return conversations.flatMap((c) => [
    c.source.body ?? '',
    ...c.parts.filter((p) => p.part_type === 'comment' && p.author.type !== 'admin').map((p) => p.body ?? ''),
  ])
}

/** Bodies of the texts the bridge asked Twilio to send. */
export function textsSent(twilio: TwilioStandIn): string[] {
  return twilio.requests
    .filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json') && r.status >= 200 && r.status < 300)
    .map((r) => String((r.body as { Body?: string }).Body ?? ''))
}

/**
 * `job started` debug lines from service logs: one run of a job (its id and the time it was due: a
 * retry or a recurring job's next turn is due at a later time) -> the pids that started that run.
 * Two starts of one run mean it was claimed twice.
 */
export function jobStarts(...outputs: string[]): Map<string, number[]> {
  const starts = new Map<string, number[]>()
  for (const output of outputs) {
    for (const line of output.split('\n')) {
      if (!line.includes('"job started"')) continue
      const record = JSON.parse(line) as { job: number; runAt: number; pid: number }
      const run = `job ${record.job} due ${record.runAt}`
      starts.set(run, [...(starts.get(run) ?? []), record.pid])
    }
  }
  return starts
}

/**
 * Twilio and Intercom stand-ins wired as `sms-bridge setup` leaves them, for a service running as its
 * own process (see wireWebhooks), closed when the test ends.
 */
export async function wiredStandIns(t: Test): Promise<{ twilio: TwilioStandIn; intercom: IntercomStandIn }> {
  const twilio = await startTwilioStandIn()
  const intercom = await startIntercomStandIn()
  t.teardown(() => twilio.close())
  t.teardown(() => intercom.close())
  wireWebhooks(twilio, intercom)
  return { twilio, intercom }
}
