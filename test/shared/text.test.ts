import t from 'tap'
import { MAX_SMS_BODY, partBodyToSms, segmentInfo, splitForSms } from '../../shared/text.js'

t.test('part bodies become SMS text', async (t) => {
  const cases: Array<[string, string | null | undefined, string]> = [
    ['paragraphs', '<p>Hi Ana,</p><p>Your order shipped.</p>', 'Hi Ana,\n\nYour order shipped.'],
    ['line breaks', '<p>line one<br>line two</p>', 'line one\nline two'],
    ['links become visible', '<p>Track it <a href="https://x.io/t/1">here</a>.</p>', 'Track it here (https://x.io/t/1).'],
    ['bare links once', '<p><a href="https://x.io">https://x.io</a></p>', 'https://x.io'],
    ['entities decoded', '<p>Tom &amp; Jerry &lt;3 &quot;hi&quot; &#128075; caf&eacute;</p>', 'Tom & Jerry <3 "hi" 👋 café'],
    ['formatting dropped', '<p><b>Bold</b> and <i>italic</i> <code>code</code></p>', 'Bold and italic code'],
    ['lists', '<ul><li>one</li><li>two</li></ul>', '* one\n * two'],
    ['images skipped', '<p>See <img src="https://x.io/a.png"> this</p>', 'See this'],
    ['headings keep case', '<h2>Order update</h2><p>ok</p>', 'Order update\n\nok'],
    ['plain text (API 2.15) kept as is', 'Plain text\nwith a line & <3', 'Plain text\nwith a line & <3'],
    ['empty', '', ''],
    ['null', null, ''],
  ]
  for (const [name, input, expected] of cases) t.equal(partBodyToSms(input), expected, name)
})

t.test('segments as Twilio counts them', async (t) => {
  const cases: Array<[string, string, ReturnType<typeof segmentInfo>]> = [
    ['empty', '', { encoding: 'GSM-7', units: 0, segments: 0, nonGsm: null }],
    ['160 GSM chars: one', 'a'.repeat(160), { encoding: 'GSM-7', units: 160, segments: 1, nonGsm: null }],
    ['161 GSM chars: two', 'a'.repeat(161), { encoding: 'GSM-7', units: 161, segments: 2, nonGsm: null }],
    ['306 GSM chars: two', 'a'.repeat(306), { encoding: 'GSM-7', units: 306, segments: 2, nonGsm: null }],
    ['307 GSM chars: three', 'a'.repeat(307), { encoding: 'GSM-7', units: 307, segments: 3, nonGsm: null }],
    ['extension chars count twice', '€'.repeat(80), { encoding: 'GSM-7', units: 160, segments: 1, nonGsm: null }],
    ['one emoji switches to UCS-2', `${'a'.repeat(68)}👋`, { encoding: 'UCS-2', units: 70, segments: 1, nonGsm: '👋' }],
    ['71 UCS-2 units: two', `${'a'.repeat(69)}👋`, { encoding: 'UCS-2', units: 71, segments: 2, nonGsm: '👋' }],
    ['Cyrillic', 'Привет', { encoding: 'UCS-2', units: 6, segments: 1, nonGsm: 'П' }],
    ['accents in GSM', 'Café à Zürich', { encoding: 'GSM-7', units: 13, segments: 1, nonGsm: null }],
  ]
  for (const [name, input, expected] of cases) t.same(segmentInfo(input), expected, name)
})

t.test('long replies split at sentence, then word boundaries, in order', async (t) => {
  t.same(splitForSms('short'), ['short'])
  const sentences = Array.from({ length: 60 }, (_, i) => `This is sentence number ${i + 1}.`).join(' ')
  const pieces = splitForSms(sentences)
  t.ok(pieces.length >= 2)
  for (const p of pieces) {
    t.ok(p.length <= MAX_SMS_BODY, 'within the limit')
    t.match(p, /\.$/, 'ends at a sentence end')
  }
  t.equal(pieces.join(' '), sentences, 'nothing lost, order kept')

  const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ')
  const byWord = splitForSms(words, 100)
  for (const p of byWord) t.ok(p.length <= 100 && !/^\s|\s$/.test(p))
  t.equal(byWord.join(' '), words)

  const run = '👋'.repeat(30)
  const unbroken = splitForSms(run, 11)
  t.equal(unbroken.join(''), run, 'an unbroken run is cut without splitting an emoji')
  for (const p of unbroken) t.notMatch(p, /^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/)
})
