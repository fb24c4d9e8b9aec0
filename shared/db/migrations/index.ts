import type { Migration, MigrationProvider } from 'kysely'
import * as initial from './2026-11-25T00-initial.js'
import * as inbound from './2026-11-25T01-inbound.js'
import * as outbound from './2026-11-25T02-outbound.js'
import * as automated from './2026-11-25T03-automated.js'
import * as realTraffic from './2026-12-02T00-real-traffic.js'
import * as abuse from './2026-12-02T01-abuse.js'
import * as trust from './2026-12-07T00-trust.js'
import * as catchup from './2026-12-07T10-catchup.js'
import * as versions from './2026-12-07T11-versions.js'
import * as retention from './2026-12-07T13-retention.js'
import * as channels from './2026-12-07T21-channels.js'
import * as parts from './2026-12-07T22-parts.js'
import * as consentLedger from './2026-12-07T30-consent-ledger.js'
import * as revocations from './2026-12-07T32-revocations.js'
import * as prices from './2026-12-07T41-prices.js'
import * as scheduled from './2026-12-07T42-scheduled.js'
import * as senders from './2026-12-07T44-senders.js'
import * as broadcasts from './2026-12-07T46-broadcasts.js'
import * as lanes from './2026-12-07T45-lanes.js'
import * as pacing from './2026-12-07T47-pacing.js'

// Listed by hand rather than read from the folder, so the same code runs from TypeScript sources,
// from compiled output and under Deno. Names sort by date: append, never reorder or edit.
const migrations: Record<string, Migration> = {
  '2026-11-25T00-initial': initial,
  '2026-11-25T01-inbound': inbound,
  '2026-11-25T02-outbound': outbound,
  '2026-11-25T03-automated': automated,
  '2026-12-02T00-real-traffic': realTraffic,
  '2026-12-02T01-abuse': abuse,
  '2026-12-07T00-trust': trust,
  '2026-12-07T10-catchup': catchup,
  '2026-12-07T11-versions': versions,
  '2026-12-07T13-retention': retention,
  '2026-12-07T21-channels': channels,
  '2026-12-07T22-parts': parts,
  '2026-12-07T30-consent-ledger': consentLedger,
  '2026-12-07T32-revocations': revocations,
  '2026-12-07T41-prices': prices,
  '2026-12-07T42-scheduled': scheduled,
  '2026-12-07T44-senders': senders,
  '2026-12-07T45-lanes': lanes,
  '2026-12-07T46-broadcasts': broadcasts,
  '2026-12-07T47-pacing': pacing,
}

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations
  },
}

export const LATEST_MIGRATION = Object.keys(migrations).sort().at(-1)!
