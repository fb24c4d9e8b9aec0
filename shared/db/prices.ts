import type { Executor } from './database.js'
import { compiler, type Statement } from './statement.js'

/** A country's SMS prices as stored: null `priceUnit` when Twilio has none. */
export interface StoredPrices {
  priceUnit: string | null
  /** Twilio's number type -> price of one segment (decimal string). */
  outbound: Record<string, string>
  fetchedAt: number
  failedAt: number | null
}

export async function storedPrices(db: Executor, isoCountry: string): Promise<StoredPrices | null> {
  const row = await db.selectFrom('prices').selectAll().where('iso_country', '=', isoCountry).executeTakeFirst()
  if (!row) return null
  return {
    priceUnit: row.price_unit,
    outbound: JSON.parse(row.outbound) as Record<string, string>,
    fetchedAt: row.fetched_at,
    failedAt: row.failed_at,
  }
}

/** What Twilio answered for a country (null: it has no prices for it), replacing what was kept. */
export function savePrices(
  isoCountry: string,
  prices: { priceUnit: string; outbound: Record<string, string> } | null,
  now: number,
): Statement {
  const values = {
    price_unit: prices?.priceUnit ?? null,
    outbound: JSON.stringify(prices?.outbound ?? {}),
    fetched_at: now,
    failed_at: null,
  }
  return compiler
    .insertInto('prices')
    .values({ iso_country: isoCountry, ...values })
    .onConflict((oc) => oc.column('iso_country').doUpdateSet(values))
    .compile()
}

/** A refresh failed: what was kept stays (stale), and the next try waits (see estimate.ts). */
export function notePriceFailure(isoCountry: string, now: number): Statement {
  return compiler
    .insertInto('prices')
    .values({ iso_country: isoCountry, price_unit: null, outbound: '{}', fetched_at: 0, failed_at: now })
    .onConflict((oc) => oc.column('iso_country').doUpdateSet({ failed_at: now }))
    .compile()
}
