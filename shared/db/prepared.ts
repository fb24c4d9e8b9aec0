import { CompiledQuery, type Kysely } from 'kysely'
import type { Database } from './schema.js'
import { compiler, type Statement } from './statement.js'

const ARG = Symbol('prepared statement argument')
interface Arg {
  readonly [ARG]: string
}
const isArg = (value: unknown): value is Arg => typeof value === 'object' && value !== null && ARG in value

/** A query builder or a `sql` template: what compiles (to rows of type R). */
interface Buildable<R> {
  compile(db: Kysely<Database>): CompiledQuery<R>
}

/** Stands for the value of argument `name`, given each time the statement is bound. */
export type ArgOf<A> = <K extends keyof A & string>(name: K) => A[K]

/**
 * A statement built and compiled once, its values bound at each call. Building and compiling a
 * Kysely query costs tens of microseconds; on the webhook path, two statements per text, that was a
 * tenth of the service's CPU. `build` writes the statement with `arg(name)` in place of each value
 * that varies; its SQL cannot depend on those values, as they are not known when it is built.
 */
export function prepare<A extends Record<string, unknown>, R = unknown>(
  build: (db: Kysely<Database>, arg: ArgOf<A>) => Buildable<R>,
): (args: A) => Statement<R> {
  let template: { sql: string; slots: ({ arg: string } | { value: unknown })[] } | undefined
  return (args) => {
    template ??= compileTemplate(build)
    const parameters = template.slots.map((slot) => ('arg' in slot ? args[slot.arg] : slot.value))
    return CompiledQuery.raw(template.sql, parameters)
  }
}

function compileTemplate<A, R>(build: (db: Kysely<Database>, arg: ArgOf<A>) => Buildable<R>) {
  const named: string[] = []
  const arg = ((name: string) => {
    named.push(name)
    return { [ARG]: name }
  }) as ArgOf<A>
  const { sql, parameters } = build(compiler, arg).compile(compiler)
  const slots = parameters.map((value) => (isArg(value) ? { arg: value[ARG] } : { value }))
  // An argument the builder dropped (Kysely leaves out a column whose value is undefined, say)
  // would be silently ignored at every call.
  for (const name of named) {
    if (!slots.some((slot) => 'arg' in slot && slot.arg === name))
      throw new Error(`prepared statement: argument "${name}" is not in the compiled SQL`)
  }
  return { sql, slots }
}
