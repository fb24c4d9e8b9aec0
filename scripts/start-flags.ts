import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

/**
 * The Node flags in a start command (`node [flags] dist/bundle/cli.js start`): the heap's limits the
 * service runs with in production. Throws if the command is not of that shape.
 */
export function startFlags(command: string): string[] {
  const m = /^node((?: --[\w-]+(?:=\S+)?)*) dist\/bundle\/cli\.js start$/.exec(command.trim())
  if (!m) throw new Error(`not "node [flags] dist/bundle/cli.js start": ${command}`)
  return m[1]!.trim().split(' ').filter(Boolean)
}

/** `npm start`'s flags: what the benchmark and the process tests run the service with. */
export const START_FLAGS = startFlags(
  (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: { start: string } }).scripts.start,
)

/** The Dockerfile's CMD, as the command line it runs. */
export function dockerCommand(): string {
  const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(`${ROOT}Dockerfile`, 'utf8'))
  if (!cmd) throw new Error('the Dockerfile has no CMD in exec form')
  return (JSON.parse(cmd[1]!) as string[]).join(' ')
}
