#!/usr/bin/env node
// Everything else is imported when a command needs it: the API clients alone take most of a second
// to load, which `help` should not pay for.
import { ConfigError, loadConfig } from './config.js'

const USAGE = `Usage: sms-bridge <command>

Commands:
  start     run the service (the default)
  migrate   apply pending database migrations and exit
  help      show this text

Settings come from the environment and an optional .env file; see the README.`

async function run(command: string): Promise<number> {
  switch (command) {
    case 'start': {
      const config = loadConfig()
      const { startService } = await import('./main.js')
      await startService(config)
      return -1
    }
    case 'migrate': {
      const { migrate, openStore } = await import('../shared/db/database.js')
      const config = loadConfig()
      const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
      try {
        const applied = await migrate(store)
        console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.')
      } finally {
        await store.close()
      }
      return 0
    }
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return 0
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`)
      return 2
  }
}

run(process.argv[2] ?? 'start').then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (err: unknown) => {
    // A configuration problem is the user's to fix: say what, without a stack trace.
    if (err instanceof ConfigError) console.error(err.message)
    else console.error(`sms-bridge could not start: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  },
)
