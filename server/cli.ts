#!/usr/bin/env node
// Everything else is imported when a command needs it: the API clients alone take most of a second
// to load, which `help` should not pay for.
import { ConfigError, loadConfig } from './config.js'
import { PRODUCT, VERSION } from '../shared/version.js'

const USAGE = `Usage: sms-bridge <command>

Commands:
  start                     run the service (the default)
  migrate                   apply pending database migrations and exit
  jobs list [--state S]     list jobs (S: dead (default), waiting or running)
  jobs retry <id>           give a dead job a fresh set of attempts
  jobs retry --all-dead [--task NAME]
                            the same for every dead job (of one task)
  jobs discard <id>         delete a dead job
  setup [--dry-run]         check credentials, create the Intercom tag and attributes, point
                            Twilio at PUBLIC_URL, print what to paste into Intercom
  doctor                    check settings, database, both APIs, the queue and recent webhooks
  backup <file>             write a consistent copy of the embedded database to <file>, while
                            the service runs
  restore <file>            check a backup and stage it: the service puts it in place the next
                            time it starts, keeping the database it replaces
  erase --phone N | --contact ID
                            erase what the bridge holds about a person; their texts are
                            redacted at Twilio by the running service
  export --phone N | --contact ID
                            print, as JSON, everything the bridge holds about a person
  consent --phone N         print a number's consent history (the ledger), oldest first
  consent --export [--format csv|json]
                            print every consent change; customers' numbers masked
  catchup --since <age>     take texts sent in the last <age> (90m, 24h, 3d) from Twilio's log
                            that the database does not have; a first start takes none older
  broadcast create|preview|confirm|pause|resume|cancel|status|report|list
                            one text to an Intercom segment or tag, or to contacts listed in
                            a file: previewed first, sent by the running service once confirmed
  senders resume <sender>   resume a sender's automated and bulk texts after they paused
                            themselves (carrier filtering or opt-outs spiked)
  version                   print the version (also --version)
  help                      show this text

Settings come from the environment and an optional .env file; see the README.`

async function jobs(args: string[]): Promise<number> {
  const { openStore, migrate } = await import('../shared/db/database.js')
  const { discardDeadJob, listJobs, retryDeadJob, retryDeadJobs } = await import('./queue/queue.js')
  const { maskPhonesInText } = await import('../shared/log.js')
  const config = loadConfig()
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    await migrate(store)
    const [action, arg, value] = args
    if (action === 'list') {
      const state = arg === '--state' ? value : 'dead'
      if (!state || !['waiting', 'running', 'dead'].includes(state)) {
        console.error('--state takes dead, waiting or running')
        return 2
      }
      const rows = await listJobs(store.db, state as 'dead', 1000)
      if (rows.length === 0) console.log(`No ${state} jobs.`)
      // When each job is (or was last) due, not when its row last changed.
      else console.log(['id', 'task', 'state', 'attempts', 'due', 'last error'].join('\t'))
      // Upstream errors quote the numbers they refused: masked here as in the logs.
      for (const j of rows) {
        console.log(
          `${j.id}\t${j.task}\t${j.state}\tattempts ${j.attempts}/${j.max_attempts}\t${new Date(j.run_at).toISOString()}\t${maskPhonesInText(j.last_error ?? '')}`,
        )
      }
      return 0
    }
    if (action === 'retry' && arg === '--all-dead' && (args.length === 2 || (args.length === 4 && args[2] === '--task' && args[3]))) {
      const task = args[3]
      const count = await retryDeadJobs(store, { task })
      console.log(
        count === 0
          ? `No dead jobs${task ? ` of task ${task}` : ''}.`
          : `${count} dead job(s)${task ? ` of task ${task}` : ''} will run again.`,
      )
      return 0
    }
    const id = Number(arg)
    if ((action === 'retry' || action === 'discard') && Number.isInteger(id) && id > 0) {
      const done = action === 'retry' ? await retryDeadJob(store, id) : await discardDeadJob(store, id)
      console.log(done ? `Job ${id} ${action === 'retry' ? 'will run again' : 'discarded'}.` : `No dead job ${id}.`)
      return done ? 0 : 1
    }
    console.error(
      `Usage: sms-bridge jobs list [--state dead|waiting|running] | jobs retry <id> | jobs retry --all-dead [--task NAME] | jobs discard <id>`,
    )
    return 2
  } finally {
    await store.close()
  }
}

function printResults(results: Array<{ ok: boolean; warn?: boolean; line: string }>): boolean {
  for (const r of results) console.log(`${r.ok ? (r.warn ? 'WARN' : 'ok  ') : 'FAIL'} ${r.line}`)
  return results.every((r) => r.ok)
}

async function ops(command: 'setup' | 'doctor', args: string[]): Promise<number> {
  const config = loadConfig()
  const { createClients } = await import('./clients/index.js')
  const clients = createClients(config)
  if (command === 'setup') {
    const { developerHubInstructions, runSetup } = await import('./ops/setup.js')
    const dryRun = args.includes('--dry-run')
    const results = await runSetup(config, clients, dryRun)
    const ok = printResults(results)
    // "Nothing to change" only when everything could be checked; a failed check is not a clean bill.
    if (!ok)
      console.log(
        `${dryRun ? 'Dry run: ' : ''}Some checks failed, so not everything could be checked; nothing ${dryRun ? 'was' : 'else was'} changed. Fix the lines marked FAIL and run it again.`,
      )
    else if (!results.some((r) => r.changed)) console.log('Nothing to change.')
    else if (dryRun) console.log('Dry run: nothing was changed.')
    console.log(`\n${developerHubInstructions(config)}`)
    return ok ? 0 : 1
  }
  const { openStore } = await import('../shared/db/database.js')
  const { runDoctor } = await import('./ops/doctor.js')
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    return printResults(await runDoctor(config, store, clients)) ? 0 : 1
  } finally {
    await store.close()
  }
}

async function backupOrRestore(command: 'backup' | 'restore', args: string[]): Promise<number> {
  const [file, ...rest] = args
  if (!file || rest.length > 0 || file.startsWith('-')) {
    console.error(`Usage: sms-bridge ${command} <file>`)
    return 2
  }
  const config = loadConfig()
  const { databaseFile, stageRestore, stagedRestorePath } = await import('../shared/db/backup.js')
  const dbFile = databaseFile(config.database.url)
  if (command === 'restore') {
    if (!dbFile) {
      console.error("DATABASE_URL is not an embedded file: restore a Turso database with Turso's own tools (point-in-time restore).")
      return 1
    }
    const { migrationsToApply } = await stageRestore(dbFile, file)
    console.log(
      `${file} is a whole bridge database${migrationsToApply ? ` (${migrationsToApply} migrations will be applied to it)` : ''}; staged as ${stagedRestorePath(dbFile)}.\n` +
        'Restart the service to put it in place (on fly.io: fly machine restart). The database it replaces is kept beside it as ' +
        `${dbFile}.before-restore-<time>.\n` +
        "Texts customers sent after the backup are taken back from Twilio's message log when it starts (up to 1,000 a number); " +
        'those Intercom already shows are found there and not posted again.',
    )
    return 0
  }
  const { openStore } = await import('../shared/db/database.js')
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    const started = new Date()
    const { bytes } = await store.backup(file)
    console.log(`Backed up ${dbFile} to ${file} (${Math.max(1, Math.round(bytes / 1024))} KB), consistent as of ${started.toISOString()}.`)
    return 0
  } finally {
    await store.close()
  }
}

async function run(command: string): Promise<number> {
  switch (command) {
    case 'backup':
    case 'restore':
      return backupOrRestore(command, process.argv.slice(3))
    case 'setup':
    case 'doctor':
      return ops(command, process.argv.slice(3))
    case 'jobs':
      return jobs(process.argv.slice(3))
    case 'catchup': {
      const { catchUpCommand } = await import('./ops/catchup.js')
      const { code, out } = await catchUpCommand(loadConfig(), process.argv.slice(3))
      if (code === 0) console.log(out)
      else console.error(out)
      return code
    }
    case 'erase':
    case 'export': {
      const { runPrivacyCommand } = await import('./ops/privacy.js')
      return runPrivacyCommand(command, process.argv.slice(3), loadConfig())
    }
    case 'consent': {
      const { runConsentCommand } = await import('./ops/consent.js')
      return runConsentCommand(process.argv.slice(3), loadConfig())
    }
    case 'start': {
      const config = loadConfig()
      const { startService } = await import('./main.js')
      await startService(config, { handleSignals: true, releaseMemory: true })
      return -1
    }
    case 'migrate': {
      const { migrate, openStore } = await import('../shared/db/database.js')
      const config = loadConfig()
      const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
      try {
        const { migrateSentences } = await import('./ops/migrate.js')
        const now = Date.now()
        console.log(migrateSentences(await migrate(store, { now }), now).join('\n'))
      } finally {
        await store.close()
      }
      return 0
    }
    case 'version':
    case '--version':
    case '-v':
      console.log(`${PRODUCT} ${VERSION}`)
      return 0
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return 0
    default:
      return moreCommands(command)
  }
}

/** Commands beyond `run`'s switch (which is full), and the unknown ones. */
async function moreCommands(command: string): Promise<number> {
  if (command === 'broadcast') {
    const { runBroadcastCommand } = await import('./ops/broadcast.js')
    return runBroadcastCommand(process.argv.slice(3), loadConfig())
  }
  if (command === 'senders') {
    const { runSendersCommand } = await import('./ops/senders.js')
    return runSendersCommand(process.argv.slice(3), loadConfig())
  }
  console.error(`Unknown command "${command}".\n\n${USAGE}`)
  return 2
}

run(process.argv[2] ?? 'start').then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (err: unknown) => {
    // A configuration problem is the user's to fix: say what, without a stack trace.
    if (err instanceof ConfigError) console.error(err.message)
    else console.error(`sms-bridge ${process.argv[2] ?? 'start'} failed: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  },
)
