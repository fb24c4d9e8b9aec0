// Bundles the compiled service (dist/server/cli.js and what it imports, node_modules included) into
// dist/bundle/. Node then reads a few files instead of thousands (intercom-client alone is over a
// thousand modules), which halves the time from start to ready. Commands the CLI loads lazily stay
// separate chunks. libsql stays external: it loads a native addon for this platform. twilio stays
// external too: its client loads each of its 38 APIs the first time it is used (the bridge uses one),
// but bundled, all of them are one 7 MB source that V8 keeps in memory whole, 14 MB of heap from the
// start. Leaving out only the APIs does not work: each would load a second copy of the SDK's base, and
// its errors would no longer be the bundled RestException. Whitespace and syntax are minified, names
// are not: stack traces still name our functions.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { build } from 'esbuild'

const outdir = new URL('../dist/bundle/', import.meta.url).pathname
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints: [new URL('../dist/server/cli.js', import.meta.url).pathname],
  outdir,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['libsql', 'twilio'],
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  // CommonJS dependencies call require() for Node's own modules.
  banner: { js: "import { createRequire as __bridgeRequire } from 'node:module'; const require = __bridgeRequire(import.meta.url);" },
  // shared/version.ts: the release's version, written into the bundle.
  define: { __BRIDGE_VERSION__: JSON.stringify(version) },
  // Licence comments go to a .LEGAL.txt beside each chunk: some name their authors beyond ASCII (below).
  legalComments: 'linked',
  logLevel: 'warning',
})

// V8 keeps a module's source in memory for as long as the module is loaded, and Node makes it two
// bytes a character if a single one is beyond ASCII: one curly apostrophe in a regular expression
// (esbuild escapes non-ASCII characters in strings, not in regular expressions) made the main chunk's
// 1 MB of source cost 2 MB of heap. Write such characters as \u escapes in the source.
for (const file of readdirSync(outdir).filter((f) => f.endsWith('.js'))) {
  const lines = readFileSync(new URL(file, `file://${outdir}`), 'utf8').split('\n')
  const line = lines.findIndex((l) => /[\u0080-\uffff]/.test(l))
  if (line >= 0) {
    const column = lines[line].search(/[\u0080-\uffff]/)
    console.error(
      `dist/bundle/${file}:${line + 1}: a character beyond ASCII in the bundle: ${JSON.stringify(lines[line].slice(Math.max(0, column - 40), column + 20))}`,
    )
    console.error('Write it as a \\u escape in the source: the whole chunk would otherwise be held as two bytes a character.')
    process.exit(1)
  }
}
