import t from 'tap'
import { contactTimeZone, quietUntil } from '../../shared/quiet-hours.js'
import { plainFirstName, plainValue, renderTemplate, templateValues } from '../../shared/template.js'

t.test('templates: Intercom placeholder syntax and the short form, one renderer', async (t) => {
  const lookup = (values: Record<string, string | null>) => (name: string) => values[name] ?? null
  const cases: Array<[string, Record<string, string | null>, string]> = [
    ['Hi {{first_name|there}}, welcome!', { first_name: 'Ana' }, 'Hi Ana, welcome!'],
    ['Hi {{first_name|there}}, welcome!', { first_name: null }, 'Hi there, welcome!'],
    ['Hi {{ name }}!', { name: 'Ana Lima' }, 'Hi Ana Lima!'],
    ['Hi {{name}}, welcome!', {}, 'Hi, welcome!'],
    ['{{unknown|x}} and {{missing}}.', {}, 'x and.'],
    ['Hi {{first_name}} <b>', { first_name: '<script>' }, 'Hi <script> <b>'],
    ['Hi {{user.name|fallback:"there"}}!', {}, 'Hi there!'],
    ['Hi {{user.name|fallback:"there"}}!', { 'user.name': 'Bo' }, 'Hi Bo!'],
    ["Hi {{ user.name | fallback: 'there' }}!", {}, 'Hi there!'],
    ['Hi {{ USER.First_Name | fallback: "you" }}', { 'user.first_name': 'Bo' }, 'Hi Bo'],
    ['{{a|fallback:"x, y"}} {{b|fallback:""}}.', {}, 'x, y.'],
    ['Line one\n\nLine {{n|two}}', {}, 'Line one\n\nLine two'],
    ['Not a placeholder: {{ }} {{a b}}', {}, 'Not a placeholder: {{ }} {{a b}}'],
  ]
  for (const [template, values, expected] of cases) t.equal(renderTemplate(template, lookup(values)), expected, template)
})

t.test("template values: a contact's and a Workflow's words only when plain, else the fallback", async (t) => {
  const contact = {
    name: 'Ana Maria Lima',
    custom_attributes: { plan: 'Gold', site: 'evil.example/x', count: 3, html: '<b>x</b>', long: 'x'.repeat(61), bidi: 'a\u202Eb' },
  }
  const cases: Array<[string, string | null]> = [
    ['first_name', 'Ana'],
    ['user.first_name', 'Ana'],
    ['name', 'Ana'],
    ['user.name', 'Ana'],
    ['contact.last_name', null],
    ['user.custom_attributes.plan', 'Gold'],
    ['custom_attribute.count', '3'],
    ['user.custom_attributes.site', null],
    ['user.custom_attributes.html', null],
    ['user.custom_attributes.long', null],
    ['user.custom_attributes.bidi', null],
    ['user.custom_attributes.constructor', null],
    ['user.email', null],
    ['teammate.name', null],
    ['order.number', '1234'],
    ['order.link', null],
    ['order.mail', null],
    ['toString', null],
  ]
  const values = templateValues(contact, {
    'order.number': '1234',
    'order.link': 'https://x.example',
    'order.mail': 'a@b.example',
    first_name: 'Eve',
  })
  for (const [name, expected] of cases) t.equal(values(name), expected, name)
  t.equal(templateValues({ name: 'www.evil.example Bo' })('user.name'), null, 'a name with a link is no name')
  t.equal(templateValues({ name: 'Visit evil.example' })('first_name'), 'Visit', 'a plain first word stays a first name')
  t.equal(templateValues({ name: null })('first_name'), null)
  t.equal(
    renderTemplate(
      'Hi {{user.first_name|fallback:"there"}}, {{plan|fallback:"welcome"}}',
      templateValues({ name: 'http://x.example' }, { plan: '<a>' }),
    ),
    'Hi there, welcome',
  )
  const plain: Array<[unknown, string | null]> = [
    ['  two\n lines ', 'two lines'],
    [true, 'true'],
    [null, null],
    [{ a: 1 }, null],
    ['St. Louis, 2:30 p.m.', 'St. Louis, 2:30 p.m.'],
    ['Acme.io', null],
    ['[x](y)', null],
  ]
  for (const [value, expected] of plain) t.equal(plainValue(value), expected, JSON.stringify(value))
})

t.test('first names', async (t) => {
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
