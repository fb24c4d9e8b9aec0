import t from 'tap'
import { countryName, formatForReading, normalizeSender, phoneSearchVariants, toE164 } from '../../shared/phone.js'

t.test('normalizeSender', async (t) => {
  const cases: Array<[string, 'US' | 'GB' | undefined, ReturnType<typeof normalizeSender>]> = [
    ['+14155550100', undefined, { value: '+14155550100', kind: 'e164' }],
    [' +1 (415) 555-0100 ', undefined, { value: '+14155550100', kind: 'e164' }],
    ['(415) 555-0100', 'US', { value: '+14155550100', kind: 'e164' }],
    ['4155550100', 'US', { value: '+14155550100', kind: 'e164' }],
    ['14155550100', undefined, { value: '+14155550100', kind: 'e164' }],
    ['07700 900123', 'GB', { value: '+447700900123', kind: 'e164' }],
    ['00447700900123', 'GB', { value: '+447700900123', kind: 'e164' }],
    ['447700900123', undefined, { value: '+447700900123', kind: 'e164' }],
    ['+33 6 12 34 56 78', 'US', { value: '+33612345678', kind: 'e164' }],
    ['12345', undefined, { value: '12345', kind: 'short_code' }],
    ['898211', 'US', { value: '898211', kind: 'short_code' }],
    ['ACME', undefined, { value: 'ACME', kind: 'alphanumeric' }],
    ['Twilio Inc', undefined, { value: 'Twilio Inc', kind: 'alphanumeric' }],
    ['', undefined, null],
    ['   ', undefined, null],
    ['+1', undefined, null],
    ['1234567', undefined, null],
    ['+999999999999999999', undefined, null],
  ]
  for (const [input, country, expected] of cases) {
    t.same(normalizeSender(input, country), expected, `${JSON.stringify(input)} (${country ?? 'no country'})`)
  }
})

t.test('toE164 for numbers people type', async (t) => {
  t.equal(toE164('415-555-0100', 'US'), '+14155550100')
  t.equal(toE164('415-555-0100'), null, 'a national number needs a country')
  t.equal(toE164('not a number', 'US'), null)
  t.equal(toE164('+44 7700 900123'), '+447700900123')
})

t.test('search variants cover the forms numbers are stored in', async (t) => {
  t.same(phoneSearchVariants('+14155550100'), ['+14155550100', '14155550100', '+1 415 555 0100', '(415) 555-0100', '4155550100'])
  t.same(phoneSearchVariants('+447700900123'), [
    '+447700900123',
    '447700900123',
    '+44 7700 900123',
    '07700 900123',
    '07700900123',
    '7700900123',
  ])
  t.same(phoneSearchVariants('12345'), ['12345'], 'a short code has one form')
})

t.test('countryName: the name people read, with the code settings use', async (t) => {
  t.equal(countryName('GG'), 'Guernsey (GG)')
  t.equal(countryName('GB'), 'United Kingdom (GB)')
  t.equal(countryName('not a code'), 'not a code', 'no name: the code as given')
})

t.test('formatForReading', async (t) => {
  t.equal(formatForReading('+14155550100'), '+1 415 555 0100')
  t.equal(formatForReading('ACME'), 'ACME')
})
