/**
 * Words that likely revoke consent to be texted without being an opt-out keyword ("please stop
 * texting me", "deja de enviarme mensajes"). The FCC counts a revocation sent by any reasonable
 * means, so the team is told; nothing is opted out or in on this guess. A short table of patterns
 * per language Twilio's keywords cover, matched on the text lowercased, without accents and
 * punctuation: simple enough to read and extend, and each pattern needs words about texts or about
 * the sender, so "don't stop", "stop by the store" or "stop the delivery" never match.
 */
const PATTERNS: RegExp[] = [
  // English
  /\bstop (texting|messaging|txting|contacting|sending me|spamming)\b/,
  /\bstop (all )?(the |these |your )?(texts|messages|sms|msgs)\b/,
  /\b(don't|dont|do not|never) (text|message|txt|sms|contact) (me|us)\b/,
  /\b(don't|dont|do not) (want|need) (any more |anymore |more |these |your |any )?(texts|messages|sms)\b/,
  /\bno more (texts|messages|sms|texting|msgs)\b/,
  /\bunsubscribe\b/,
  /\bopt (me )?out\b/,
  /\b(remove|take) me (off|from) (the |your |this )?(list|texts|messages|sms)\b/,
  /^(please )?(stop|end|quit|cancel)( (please|now|it|this|thanks|thank you|all|asap))+$/,
  /^please (stop|end|quit|cancel)$/,
  // Spanish
  /\bdej(a|e|en|ar|ad) de (enviar|mandar|escribir|contactar|molestar)(me|nos)?\b/,
  /\bno me (envies|envien|mande|mandes|manden|escribas|escriban|contactes|contacten) (mas|mensajes|sms)\b/,
  /\bno (quiero|deseo) (recibir )?(mas )?(mensajes|sms|textos)\b/,
  /\bno mas (mensajes|sms|textos)\b/,
  /\b(dame|darme|denme|dar) de baja\b/,
  // French
  /\barret(e|ez|er) (de m'?(envoyer|ecrire|contacter|texter|harceler)|(les|vos|ces) (messages|sms|textos))\b/,
  /\bne m'?(envoy|ecri|contact)\w* plus\b/,
  /\b(ne )?veux plus (recevoir )?(de |vos |ces )?(messages|sms|textos)\b/,
  /\b(me )?desabonn\w*|\bdesinscri\w*/,
  // German
  /\bkeine (sms|nachrichten|texte|mitteilungen|textnachrichten) mehr\b/,
  /\bhor\w* (sie |bitte )*auf,? mir (zu )?(schreiben|simsen|texten|nachrichten)/,
  /\b(schreib|send|schick|kontaktier)\w* (sie )?mir (bitte )?(keine|nicht mehr)\b/,
  /\babmelden\b|\bmelde\w* (sie )?mich ab\b|\babbestellen\b/,
  // Portuguese
  /\bpar(e|em|ar) de (me )?(mandar|enviar|escrever|contactar|contatar)\b/,
  /\bnao me (mande|mandem|envie|enviem|escreva|escrevam) (mais|mensage\w*|sms)\b/,
  /\bnao quero (mais )?(receber )?(mensage\w*|sms)\b/,
  /\bdescadastr\w*/,
  // Italian
  /\bsmett\w* di (scriver|mandar|inviar|contattar)\w*/,
  /\bnon (mi )?(scriver|mandar|inviar|contattar)\w* piu\b|\bnon scrivermi\b|\bnon mandatemi\b/,
  /\bbasta (con )?(i |questi )?(messaggi|sms)\b/,
  /\bdisiscriv\w*|\bcancellami\b/,
]

/** Lowercase, accents off (ö -> o, é -> e), one kind of apostrophe, punctuation as spaces. */
function normalise(body: string): string {
  return body
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[\u2019\u2018`\u00b4]/g, "'") // ’ ‘ ` ´
    .replace(/[^\p{L}\p{N}']+/gu, ' ')
    .trim()
}

/** The words that read as a request to stop texts (as normalised, at most 100 characters), or null. */
export function detectRevocation(body: string): string | null {
  const text = normalise(body)
  for (const pattern of PATTERNS) {
    const found = pattern.exec(text)
    if (found) return found[0].trim().slice(0, 100)
  }
  return null
}

const DAY = 86_400_000

/**
 * The day (YYYY-MM-DD, UTC) by which a revocation received at `at` must be honoured: the FCC allows
 * 10 business days. Saturdays and Sundays are skipped; public holidays are not counted here (they
 * differ by place and year), so the team must check the date against its own holidays.
 */
export function honourBy(at: number, businessDays = 10): string {
  let day = Math.floor(at / DAY) * DAY
  for (let left = businessDays; left > 0;) {
    day += DAY
    const weekday = new Date(day).getUTCDay()
    if (weekday !== 0 && weekday !== 6) left--
  }
  return new Date(day).toISOString().slice(0, 10)
}
