import t from 'tap'
import { detectRevocation, honourBy } from '../../shared/revocation.js'

// Real phrasings of people asking a business to stop texting them, and texts that must not be taken so.
const REVOCATIONS: [string, string][] = [
  ['please stop texting me', 'en'],
  ["Don't text me anymore", 'en'],
  ['don’t text me anymore!!', 'en'],
  ['Unsubscribe me please', 'en'],
  ['No more messages.', 'en'],
  ['Stop sending me these messages', 'en'],
  ['stop the texts', 'en'],
  ['Do not contact me again', 'en'],
  ['I do not want any more texts from you', 'en'],
  ['Please remove me from your list', 'en'],
  ['how do I opt out of this', 'en'],
  ['STOP PLEASE', 'en'],
  ['Stop now!', 'en'],
  ['Deja de enviarme mensajes', 'es'],
  ['dejen de escribirme por favor', 'es'],
  ['No me envíes más mensajes', 'es'],
  ['no quiero recibir más mensajes', 'es'],
  ['Darme de baja', 'es'],
  ["Arrête de m'envoyer des messages", 'fr'],
  ['arretez les SMS svp', 'fr'],
  ["Ne m'envoyez plus rien", 'fr'],
  ['je ne veux plus recevoir de messages', 'fr'],
  ['désabonnez-moi', 'fr'],
  ['Keine SMS mehr', 'de'],
  ['bitte keine Nachrichten mehr', 'de'],
  ['Hören Sie auf, mir zu schreiben', 'de'],
  ['Schreiben Sie mir nicht mehr', 'de'],
  ['Bitte abmelden', 'de'],
  ['Pare de me mandar mensagem', 'pt'],
  ['parem de me enviar isso', 'pt'],
  ['Não me mande mais mensagens', 'pt'],
  ['não quero mais receber mensagens', 'pt'],
  ['Smettila di scrivermi', 'it'],
  ['smettete di mandarmi messaggi', 'it'],
  ['Non scrivermi più', 'it'],
  ['basta messaggi', 'it'],
]

const NOT_REVOCATIONS = [
  "don't stop",
  'Please don’t stop the service, I paid',
  'stop by the store tomorrow?',
  'Can you stop the delivery?',
  'stop', // a keyword: Twilio and keywords.ts handle it
  'STOP',
  'UNSTOP',
  'the bus stop is on Main St',
  'I got no messages from the courier',
  'thanks for the messages!',
  'No me mandes el paquete todavía',
  'no me llegó ningún mensaje',
  "Je n'ai pas reçu de SMS",
  'Ich habe keine SMS bekommen',
  'Non mi hai mandato il codice',
  'Não recebi a mensagem',
  'The end of the month works',
  'can I cancel my order?',
]

t.test('likely revocations in every language Twilio has keywords for', async (t) => {
  for (const [text, lang] of REVOCATIONS) t.ok(detectRevocation(text), `${lang}: "${text}"`)
})

t.test('texts that merely use the words are not flagged', async (t) => {
  for (const text of NOT_REVOCATIONS) t.equal(detectRevocation(text), null, `"${text}"`)
})

t.test('the phrase found is returned, short and normalised', async (t) => {
  t.equal(detectRevocation('Hi. PLEASE stop texting me!!! thanks'), 'stop texting')
  t.equal(detectRevocation('Arrête de m’envoyer des messages'), "arrete de m'envoyer")
  t.ok(detectRevocation(`${'x '.repeat(500)}unsubscribe`)!.length <= 100)
})

t.test('10 business days, weekends skipped, counted from the day of the text (UTC)', async (t) => {
  const at = (iso: string) => Date.parse(iso)
  t.equal(honourBy(at('2026-12-07T09:00:00Z')), '2026-12-21', 'a Monday: two weeks later')
  t.equal(honourBy(at('2026-12-04T23:59:00Z')), '2026-12-18', 'a Friday: two Fridays later')
  t.equal(honourBy(at('2026-12-05T12:00:00Z')), '2026-12-18', 'a Saturday counts from Monday')
  t.equal(honourBy(at('2026-12-06T12:00:00Z')), '2026-12-18', 'a Sunday too')
  t.equal(honourBy(at('2026-12-07T09:00:00Z'), 1), '2026-12-08')
})
