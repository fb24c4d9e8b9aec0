import type { BridgeDeps } from './deps.js'

// Contract E's interface: every text may go now until the throughput helper's file (the sender's
// rate, its daily cap, the automatic pause on filtering) replaces this one.

export type SlotAnswer = { go: true } | { go: false; at: number; why: 'rate' | 'daily_cap' | 'paused' }

/** Before an automated or bulk text goes to Twilio: may it go now from this sender, or when next? */
export async function takeSendSlot(
  _deps: BridgeDeps,
  _want: { sender: string; lane: 'automated' | 'bulk' },
  _now: number,
): Promise<SlotAnswer> {
  return { go: true }
}
