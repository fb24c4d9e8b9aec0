import t from 'tap'
import { MAX_SMS_BODY, partBodyToSms, segmentInfo, smartEncoded, splitForSms } from '../../shared/text.js'

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
  const gsm = (characters: number, units: number, segments: number) => ({
    characters,
    encoding: 'GSM-7' as const,
    units,
    segments,
    forcedUcs2: [],
  })
  const ucs2 = (characters: number, units: number, segments: number, forcedUcs2: string[]) => ({
    characters,
    encoding: 'UCS-2' as const,
    units,
    segments,
    forcedUcs2,
  })
  const cases: Array<[string, string, ReturnType<typeof segmentInfo>]> = [
    ['empty', '', gsm(0, 0, 0)],
    ['160 GSM chars: one', 'a'.repeat(160), gsm(160, 160, 1)],
    ['161 GSM chars: two', 'a'.repeat(161), gsm(161, 161, 2)],
    ['306 GSM chars: two', 'a'.repeat(306), gsm(306, 306, 2)],
    ['307 GSM chars: three', 'a'.repeat(307), gsm(307, 307, 3)],
    ['extension chars count twice', '€'.repeat(80), gsm(80, 160, 1)],
    ['an extension char past 160 septets: two', `${'a'.repeat(159)}{`, gsm(160, 161, 2)],
    ['every extension char', '^{}\\[~]|€', gsm(9, 18, 1)],
    ['70 UCS-2 units: one', `${'a'.repeat(69)}ő`, ucs2(70, 70, 1, ['ő'])],
    ['one emoji switches to UCS-2 (two units)', `${'a'.repeat(68)}👋`, ucs2(69, 70, 1, ['👋'])],
    ['71 UCS-2 units: two', `${'a'.repeat(69)}👋`, ucs2(70, 71, 2, ['👋'])],
    ['134 UCS-2 units: two', `${'a'.repeat(133)}ő`, ucs2(134, 134, 2, ['ő'])],
    ['135 UCS-2 units: three', `${'a'.repeat(134)}ő`, ucs2(135, 135, 3, ['ő'])],
    ['Cyrillic: each letter once, in order', 'Привет мир', ucs2(10, 10, 1, ['П', 'р', 'и', 'в', 'е', 'т', 'м'])],
    ['curly quotes and a dash', '“Hi” — it’s', ucs2(11, 11, 1, ['“', '”', '—', '’'])],
    ['accents in GSM', 'Café à Zürich', gsm(13, 13, 1)],
  ]
  for (const [name, input, expected] of cases) t.same(segmentInfo(input), expected, name)
})

t.test('Twilio Smart Encoding: replaced only when that makes the text GSM-7', async (t) => {
  const cases: Array<[string, string, string | null]> = [
    ['curly quotes and apostrophes', '“Hello” it’s ‘me’', "\"Hello\" it's 'me'"],
    ['en and em dashes', 'Mon–Fri — 9am', 'Mon-Fri - 9am'],
    ['ellipsis', 'Wait…', 'Wait...'],
    ['no-break and thin spaces', 'a\u00a0b\u2009c', 'a b c'],
    ['zero-width space dropped', 'a\u200bb', 'ab'],
    ['guillemets', '«oui»', '"oui"'],
    ['fullwidth letters and digits', 'ＡＢ１２', 'AB12'],
    ['already GSM-7: nothing to do', 'Plain "text"', null],
    ['an emoji stays UCS-2: no replacement offered', '“Hi” 👋', null],
    ['Cyrillic stays UCS-2', '“Привет”', null],
  ]
  for (const [name, input, expected] of cases) t.equal(smartEncoded(input), expected, name)
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
