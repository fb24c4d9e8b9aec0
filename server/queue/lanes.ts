import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * The queue's lanes, first to last: a teammate's reply, a sidebar send or a verification code (a
 * person is waiting on the other side), then inbound deliveries (a customer's text on its way to the
 * inbox), then automated texts, then bulk. The claim takes the first lane's due jobs first; within a
 * lane, and across lanes for one ordering key, jobs keep the order they were queued in.
 */
export const LANES = ['reply', 'inbound', 'automated', 'bulk'] as const
export type Lane = (typeof LANES)[number]

/** A task that names no lane, and every job queued before lanes existed (the column's default). */
export const DEFAULT_LANE: Lane = 'inbound'

/** The lane as the jobs table stores it: its place in LANES (0 goes first). */
export function laneRank(lane: Lane): number {
  return LANES.indexOf(lane)
}

/** The lane a stored rank stands for; a rank this version does not know (a newer one wrote it) is the default. */
export function laneOfRank(rank: number): Lane {
  return LANES[rank] ?? DEFAULT_LANE
}

const running = new AsyncLocalStorage<Lane>()

/** Runs `fn` as work of `lane`: what it calls (the Intercom pacer) can ask `currentLane()`. */
export function inLane<T>(lane: Lane, fn: () => T): T {
  return running.run(lane, fn)
}

/**
 * The lane of the job whose code is running, or undefined outside a job (a request a teammate or a
 * visitor is waiting on, which the pacer treats as a reply).
 */
export function currentLane(): Lane | undefined {
  return running.getStore()
}
