// Bundles the compiled service (dist/server/cli.js and what it imports, node_modules included) into
// dist/bundle/. Node then reads a few files instead of thousands (intercom-client alone is over a
// thousand modules), which halves the time from start to ready. Commands the CLI loads lazily stay
// separate chunks. libsql stays external: it loads a native addon for this platform.
import { rmSync } from 'node:fs'
import { build } from 'esbuild'

const outdir = new URL('../dist/bundle/', import.meta.url).pathname
rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints: [new URL('../dist/server/cli.js', import.meta.url).pathname],
  outdir,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['libsql'],
  sourcemap: true,
  // CommonJS dependencies (twilio) call require() for Node's own modules.
  banner: { js: "import { createRequire as __bridgeRequire } from 'node:module'; const require = __bridgeRequire(import.meta.url);" },
  logLevel: 'warning',
})
