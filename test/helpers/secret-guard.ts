/**
 * The suite-wide secret guard: no password may appear in any log line or
 * error, in any test.
 *
 * .taprc preloads this module into every test process (node-arg `--import`),
 * and the test helpers pass it to the child processes they start. Every
 * password a test uses is registered with `secret()`; `startRedis()` and
 * `startCluster()` register the passwords of the servers they start. The guard
 * then searches, for each secret in its raw, percent-encoded and JSON-escaped
 * forms:
 *
 * - every error made through `Error.captureStackTrace` — every FastifyError,
 *   so every `FST_REDIS_*` error of the plugin and Fastify's own — with its
 *   cause chain, when it is made;
 * - errors the tests catch from the plugin (`checkError()`, used by the
 *   helpers that collect startup errors);
 * - every log line of every Fastify instance the tests build: the helpers in
 *   ./app.ts and ./example.ts log at `trace` through `guardedLogger()`, and a
 *   test in secret-guard.test.ts checks that no test builds one otherwise;
 * - the output of every child process the helpers start (redis-server,
 *   redis-cli, the example app, fixtures) and the example app's responses.
 *
 * A process in which a secret was seen prints where (never the secret) and
 * exits with code 1, so tap fails its test file.
 */
import { appendFileSync, writeSync } from 'node:fs'

const ENV = 'FASTIFY_NODE_REDIS_TEST_SECRETS'
const MIN_LENGTH = 6

export interface Leak {
  /** Where it was seen: "error FST_REDIS_CONFIG", "log line", "redis-server output"… */
  where: string
  /** The text, with every secret replaced by <secret N>. */
  text: string
}

interface State {
  /** Secret → the forms searched for. */
  secrets: Map<string, string[]>
  leaks: Leak[]
  /** How many texts were searched, by kind (`where` up to its first space). */
  searched: Record<string, number>
  /** While collect() runs, leaks go here instead. */
  diverted?: Leak[]
}

// One state per process, whatever module instance (ESM preload, CJS import) reaches it.
const KEY = Symbol.for('fastify-node-redis.secret-guard')
const holder = globalThis as { [KEY]?: State }
const state: State = holder[KEY] ??= install()

function install (): State {
  const fresh: State = { secrets: new Map(), leaks: [], searched: {} }
  for (const value of JSON.parse(process.env[ENV] ?? '[]') as string[]) add(fresh, value)

  const capture = Error.captureStackTrace
  Error.captureStackTrace = function captureStackTrace (target: object, constructorOpt?: Function) {
    capture(target, constructorOpt ?? captureStackTrace) // this wrapper stays out of the trace
    checkError(target)
  }

  process.on('exit', () => {
    // FASTIFY_NODE_REDIS_GUARD_REPORT=<file>: each process appends what it searched (to check the guard's reach).
    const report = process.env.FASTIFY_NODE_REDIS_GUARD_REPORT
    if (report) appendFileSync(report, JSON.stringify({ argv: process.argv.slice(1), secrets: fresh.secrets.size, searched: fresh.searched }) + '\n')
    const leaks = fresh.leaks
    if (leaks.length === 0) return
    const lines = leaks.slice(0, 20).map((l) => `  - in ${l.where}: ${l.text.slice(0, 500)}`)
    if (leaks.length > 20) lines.push(`  … and ${leaks.length - 20} more`)
    writeSync(2, `\nsecret-guard: a registered password was seen ${leaks.length} time(s) in process ${process.pid}:\n${lines.join('\n')}\n`)
    process.exitCode = 1
  })
  return fresh
}

function add (into: State, value: string): void {
  if (into.secrets.has(value)) return
  const forms = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])
  into.secrets.set(value, [...forms])
}

/**
 * Registers a password the suite uses and returns it. It must be distinctive
 * (6 characters or more) so that finding it means a leak. Child processes
 * started afterwards inherit the registry through their environment.
 */
export function secret<T extends string> (value: T): T {
  if (value.length < MIN_LENGTH) {
    throw new Error(`secret-guard: a test password must have ${MIN_LENGTH} characters or more to be searched for, got one of ${value.length}`)
  }
  add(state, value)
  process.env[ENV] = JSON.stringify([...state.secrets.keys()])
  return value
}

/** Replaces every registered secret in `text` by `<secret N>`; undefined when there is none. */
function redacted (text: string): string | undefined {
  let out = text
  let i = 0
  for (const forms of state.secrets.values()) {
    i++
    for (const form of forms) {
      if (out.includes(form)) out = out.split(form).join(`<secret ${i}>`)
    }
  }
  return out === text ? undefined : out
}

/** Searches `text`; a secret found there is recorded as a leak seen in `where`. */
export function checkText (text: string, where: string): void {
  const kind = where.split(' ')[0]
  state.searched[kind] = (state.searched[kind] ?? 0) + 1
  if (state.secrets.size === 0 || text.length === 0) return
  const shown = redacted(text)
  if (shown === undefined) return
  const leaks = state.diverted ?? state.leaks
  // The same error seen when made and again when a helper checks it is one leak.
  if (!leaks.some((l) => l.where === where && l.text === shown)) leaks.push({ where, text: shown })
}

/** Searches an error's message, code and string properties, and its cause chain. */
export function checkError (error: unknown): void {
  const seen = new Set<unknown>()
  for (let e = error; typeof e === 'object' && e !== null && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e)
    const { code } = e as { code?: unknown }
    const where = `error ${typeof code === 'string' ? code : (e as { name?: unknown }).name ?? 'object'}`
    const texts = new Set([(e as { message?: unknown }).message, ...Object.values(e)].filter((v) => typeof v === 'string'))
    checkText([...texts].join(' | '), where)
  }
}

/**
 * Fastify `logger` options that send every line, at trace level, through the
 * guard; lines at `level` or above are also handed to `keep`.
 */
export function guardedLogger (level = 'silent', keep?: (line: string) => void): { level: 'trace', stream: { write (line: string): void } } {
  const min = LEVELS[level] ?? Infinity
  return {
    level: 'trace',
    stream: {
      write (line: string) {
        checkText(line, 'log line')
        if (keep && Number(/"level":(\d+)/.exec(line)?.[1]) >= min) keep(line)
      }
    }
  }
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }

/** Runs `fn` and returns the leaks it caused instead of failing the process (the guard's own tests). */
export async function collect (fn: () => unknown): Promise<Leak[]> {
  const before = state.diverted
  const diverted: Leak[] = []
  state.diverted = diverted
  try {
    await fn()
  } finally {
    state.diverted = before
  }
  return diverted
}
