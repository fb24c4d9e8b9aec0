import t from 'tap'
import { contactTimeZone, quietUntil } from '../../shared/quiet-hours.js'
import { contactValues, plainFirstName, renderTemplate } from '../../shared/template.js'

t.test('templates', async (t) => {
  const cases: Array<[string, Record<string, string | null>, string]> = [
    ['Hi {{first_name|there}}, welcome!', { first_name: 'Ana' }, 'Hi Ana, welcome!'],
    ['Hi {{first_name|there}}, welcome!', { first_name: null }, 'Hi there, welcome!'],
    ['Hi {{first_name|there}}, welcome!', { first_name: '  ' }, 'Hi there, welcome!'],
    ['Hi {{ name }}!', { name: 'Ana Lima' }, 'Hi Ana Lima!'],
    ['Hi {{name}}, welcome!', {}, 'Hi, welcome!'],
    ['{{unknown|x}} and {{missing}}.', {}, 'x and.'],
    ['Hi {{first_name}} <b>', { first_name: '<script>' }, 'Hi <script> <b>'],
  ]
  for (const [template, values, expected] of cases) t.equal(renderTemplate(template, values), expected, template)
  // A contact's name is their own words: only a plain first name is ever offered to a template.
  t.same(contactValues({ name: 'Ana Maria Lima' }), { name: 'Ana', first_name: 'Ana' })
  t.same(contactValues({ name: null }), { name: null, first_name: null })
  const firstNames: Array<[string | null, string | null]> = [
    ['Zoë', 'Zoë'],
    ['  Jean-Luc  Picard', 'Jean-Luc'],
    ["D'Arcy", "D'Arcy"],
    ['Łukasz', 'Łukasz'],
    ['李 雷', '李'],
    ['José', 'José'],
    ['evil.example/x', null],
    ['www.evil.example', null],
    ['<b>Bo</b>', null],
    ['Bo!', null],
    ['R2D2', null],
    ['5550100', null],
    ['-Bo', null],
    ["Bo'", null],
    ['A'.repeat(21), null],
    ['A'.repeat(20), 'A'.repeat(20)],
    ['', null],
    [null, null],
  ]
  for (const [name, expected] of firstNames) t.equal(plainFirstName(name), expected, JSON.stringify(name))
})

t.test('quiet hours', async (t) => {
  const at = (iso: string) => Date.parse(iso)
  t.equal(quietUntil(at('2026-11-25T12:00:00Z'), '21:00-08:00', 'UTC'), null, 'midday is fine')
  t.equal(quietUntil(at('2026-11-25T22:30:00Z'), '21:00-08:00', 'UTC'), at('2026-11-26T08:00:00Z'), 'late evening waits for the morning')
  t.equal(quietUntil(at('2026-11-25T03:15:20Z'), '21:00-08:00', 'UTC'), at('2026-11-25T08:00:00Z'), 'night waits too')
  t.equal(quietUntil(at('2026-11-25T08:00:00Z'), '21:00-08:00', 'UTC'), null, 'the window ends at its end')
  t.equal(quietUntil(at('2026-11-25T13:00:00Z'), '12:00-14:00', 'UTC'), at('2026-11-25T14:00:00Z'), 'a daytime window')
  // 02:00 UTC is 21:00 in New York (EST, UTC-5): quiet there, fine in London.
  t.equal(quietUntil(at('2026-11-25T02:00:00Z'), '21:00-08:00', 'America/New_York'), at('2026-11-25T13:00:00Z'))
  t.equal(quietUntil(at('2026-11-25T12:00:00Z'), '21:00-08:00', 'Europe/London'), null)
})

t.test('contact time zones', async (t) => {
  t.equal(contactTimeZone('GB', 'UTC'), 'Europe/London')
  t.equal(contactTimeZone('fr', 'UTC'), 'Europe/Paris')
  t.equal(contactTimeZone('US', 'America/Chicago'), 'America/Chicago', 'several zones: the fallback')
  t.equal(contactTimeZone(null, 'Asia/Tokyo'), 'Asia/Tokyo')
  t.equal(contactTimeZone('ZZ', 'UTC'), 'UTC')
  t.equal(contactTimeZone('Ireland', 'UTC'), 'Europe/Dublin', 'Intercom gives country names')
  t.equal(contactTimeZone('United Kingdom', 'UTC'), 'Europe/London')
  t.equal(contactTimeZone('United States', 'America/Denver'), 'America/Denver')
})
