import type { IntercomClient } from 'intercom-client'
import { intercomFailure, intercomHost } from '../clients/intercom.js'
import { macroIdIn } from '../bridge/templates.js'
import type { Config } from '../config.js'

/** Which settings name which macro: WELCOME_SMS_TEMPLATE and each SMS_TEMPLATES value that is `macro:<id>`. */
export function namedMacros(config: Pick<Config, 'welcome' | 'templates'>): Array<{ setting: string; id: string }> {
  const named = [{ setting: 'WELCOME_SMS_TEMPLATE', text: config.welcome.template }]
  for (const [name, text] of config.templates) named.push({ setting: `SMS_TEMPLATES.${name}`, text })
  return named.flatMap(({ setting, text }) => {
    const id = macroIdIn(text)
    return id ? [{ setting, id }] : []
  })
}

/**
 * `doctor`: every macro a setting names can be read (GET /macros/{id}); a deleted one (or one the
 * token's admin may not see) would skip every text that uses it.
 */
export async function reportMacros(
  config: Pick<Config, 'welcome' | 'templates' | 'intercom'>,
  intercom: IntercomClient,
  say: (ok: boolean, line: string) => void,
): Promise<void> {
  for (const { setting, id } of namedMacros(config)) {
    try {
      const macro = await intercom.unstable.macros.getMacro({ id })
      const words = typeof macro?.body_text === 'string' && macro.body_text.trim()
      say(Boolean(words), words ? `Macro ${id} (${setting}): "${macro?.name}".` : `Macro ${id} (${setting}): it has no text.`)
    } catch (err) {
      const failure = intercomFailure(err, `read macro ${id}`, intercomHost(config.intercom))
      const line = failure.notFound
        ? `Macro ${id} (${setting}): Intercom has no such macro (deleted, or not visible to the access token's admin): texts that use it are skipped.`
        : `Macro ${id} (${setting}): could not be read: ${failure.message}`
      say(false, line)
    }
  }
}
