// Every function that runs on text someone else wrote (a teammate's reply, a customer's text, a
// contact's name, a visitor's typed number) is linear in its input. Before this suite a 100 KB reply
// of spaces held the event loop for 12 s in one regular expression; quadratic code on these inputs
// takes minutes at 1 MB, linear code well under a second. The bound below is 20 times the slowest
// linear run measured here, so it separates the two on any machine.
import fc from 'fast-check'
import t from 'tap'
import { escapeHtml, inlineImages, partBodyToSms, segmentInfo, splitForSms, textOf } from '../../shared/text.js'
import { renderTemplate, templateValues } from '../../shared/template.js'
import { normalizeSender, toE164 } from '../../shared/phone.js'
import { detectKeyword } from '../../server/bridge/keywords.js'
import { splitAddress } from '../../shared/channel.js'
import { maskPhone, maskUrl } from '../../shared/log.js'

const BOUND_MS = 10_000

const FUNCTIONS: Record<string, (s: string) => unknown> = {
  partBodyToSms,
  inlineImages,
  textOf,
  splitForSms,
  segmentInfo,
  escapeHtml,
  detectKeyword,
  splitAddress,
  maskPhone,
  maskUrl: (s) => maskUrl(`/twilio/sms?x=${s}`),
  normalizeSender: (s) => normalizeSender(s),
  toE164: (s) => toE164(s),
  'renderTemplate (a contact name)': (s) =>
    renderTemplate(
      'Hi {{first_name|there}} ,  welcome {{user.custom_attributes.x|fallback:"!"}}',
      templateValues({ name: s, custom_attributes: { x: s } }),
    ),
}

// Runs of what backtracking patterns choke on: whitespace before no newline, unclosed tags, tags
// nested deeper than any recursion, entity fragments, placeholders, digits.
const UNITS = [
  ' ',
  '\t',
  ' \t',
  '\n',
  '\r\n',
  '\n\n\n ',
  '<',
  '<p',
  '<p ',
  '<b>',
  '<div>',
  '</p>',
  '<a href="',
  '<img src="https://x/',
  '&#',
  '&amp',
  '{{',
  '{{a|',
  '+1',
  '1',
  'a ',
  '. ',
  '😀',
  'é',
]

const adversarial = fc
  .record({
    unit: fc.constantFrom(...UNITS),
    size: fc.integer({ min: 50_000, max: 1_000_000 }),
    prefix: fc.constantFrom('', '<p>', 'Hello ', '<div class="intercom-container">'),
    suffix: fc.constantFrom('', 'x', '</p>', '\n', '>'),
  })
  .map(({ unit, size, prefix, suffix }) => prefix + unit.repeat(Math.ceil(size / unit.length)) + suffix)

t.test("every function on outsiders' text is linear: long adversarial strings up to 1 MB", async (t) => {
  for (const [name, fn] of Object.entries(FUNCTIONS)) {
    let slowest = 0
    fc.assert(
      fc.property(adversarial, (input) => {
        const started = performance.now()
        fn(input)
        const ms = performance.now() - started
        slowest = Math.max(slowest, ms)
        return ms < BOUND_MS
      }),
      { numRuns: 12, seed: 1333 },
    )
    t.pass(`${name}: slowest ${Math.round(slowest)} ms`)
  }
})

t.test('deep nesting is converted, not a stack overflow', async (t) => {
  t.equal(partBodyToSms(`${'<b>'.repeat(100_000)}hello`), 'hello')
  t.equal(partBodyToSms(`${'<div>'.repeat(50_000)}one<br>two`), 'one\ntwo')
  t.equal(partBodyToSms(`<p>${' '.repeat(1_000_000)}x</p>`), 'x')
})
