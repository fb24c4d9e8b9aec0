// The Pricing API's messaging countries (GET https://pricing.twilio.com/v1/Messaging/Countries/{IsoCountry}),
// shaped as the example in Twilio's reference (test/fixtures/real/twilio/pricing-messaging-country-twilio-docs.json):
// prices per carrier (MCC/MNC) and sender number type, as decimal strings, and the currency.

export interface PriceRow {
  base_price: string
  current_price: string
  number_type: string
}

export interface MessagingCountry {
  country: string
  iso_country: string
  inbound_sms_prices: PriceRow[]
  outbound_sms_prices: Array<{ carrier: string; mcc: string; mnc: string; prices: PriceRow[] }>
  price_unit: string
  url: string
}

const row = (number_type: string, price: string): PriceRow => ({ base_price: price, current_price: price, number_type })

/** A country's messaging prices: `carriers` is carrier -> number type -> price. */
export function messagingCountry(
  iso: string,
  name: string,
  carriers: Record<string, Record<string, string>>,
  priceUnit = 'USD',
): MessagingCountry {
  return {
    country: name,
    iso_country: iso,
    inbound_sms_prices: [row('local', '0.0079')],
    outbound_sms_prices: Object.entries(carriers).map(([carrier, prices], i) => ({
      carrier,
      mcc: iso === 'US' ? '310' : '234',
      mnc: String(10 + i * 10).padStart(3, '0'),
      prices: Object.entries(prices).map(([type, price]) => row(type, price)),
    })),
    price_unit: priceUnit,
    url: `https://pricing.twilio.com/v1/Messaging/Countries/${iso}`,
  }
}

/** What the stand-in knows by default: two US carriers (prices differ by carrier) and the UK. */
export function defaultMessagingPrices(): Map<string, MessagingCountry> {
  return new Map([
    [
      'US',
      messagingCountry('US', 'United States', {
        'AT&T Wireless': { local: '0.0079', 'toll free': '0.0079', shortcode: '0.0091' },
        'T-Mobile USA, Inc.': { local: '0.0083', 'toll free': '0.0081', shortcode: '0.0091' },
      }),
    ],
    ['GB', messagingCountry('GB', 'United Kingdom', { 'Vodafone UK': { mobile: '0.0463' }, EE: { mobile: '0.0450' } })],
  ])
}
