// package.json says which Node.js versions the bridge runs on; that is only true if every package it
// installs says so too. The Docker image runs Node 24; the test machines run Node 20.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import semver from 'semver'
import t from 'tap'
import { START_FLAGS, dockerCommand, startFlags } from '../scripts/start-flags.js'

const root = new URL('../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8'))
const SUPPORTED = ['20.19.0', '22.12.0', '24.0.0']

t.test('the declared Node.js range covers the versions we run and test on', async (t) => {
  for (const v of SUPPORTED) t.ok(semver.satisfies(v, pkg.engines.node), `${v} in ${pkg.engines.node}`)
  t.ok(semver.satisfies(process.version, pkg.engines.node), `this machine's ${process.version}`)
})

t.test('every installed package supports those versions too', async (t) => {
  const refusing: string[] = []
  for (const [path, entry] of Object.entries(
    lock.packages as Record<string, { engines?: { node?: string } | string[]; optional?: boolean }>,
  )) {
    const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined
    if (!path || !range || entry.optional) continue
    for (const v of SUPPORTED)
      if (!semver.satisfies(v, range)) refusing.push(`${path.replace(/^.*node_modules\//, '')} wants node ${range} (not ${v})`)
  }
  t.same(refusing, [])
})

t.test('the Docker image starts the service as npm start does, with the same heap flags', async (t) => {
  t.same(startFlags(dockerCommand()), START_FLAGS)
  t.ok(
    START_FLAGS.some((f) => f.startsWith('--max-old-space-size=')),
    'the old generation is capped (fly.io machines have 256 MB)',
  )
  t.throws(() => startFlags('node dist/server/cli.js start'), /not "node \[flags\] dist\/bundle\/cli\.js start"/)
  t.same(startFlags('node --max-old-space-size=128 --liftoff-only dist/bundle/cli.js start'), [
    '--max-old-space-size=128',
    '--liftoff-only',
  ])
  // A V8 flag a later Node renames or drops stops the process before it starts: this Node takes them all.
  const run = spawnSync(process.execPath, [...START_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' })
  t.equal(run.status, 0, `node ${START_FLAGS.join(' ')} runs: ${run.stderr}`)
})
