import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build } from '../../example-app/app'
import { hashPassword } from '../../example-app/passwords'
import type { RedisServer } from './redis'
import { checkText, guardedLogger, secret } from './secret-guard'

interface Teardown { teardown (fn: () => unknown): void }

/** Signs session cookies in tests (32 characters or more). */
export const SECRET = secret('a test secret, long enough for @fastify/session')

/** Users for the tests: alice/wonderland and bob/the-builder. */
export const PASSWORDS = { alice: secret('wonderland'), bob: secret('the-builder') } as const
let users: Promise<string> | undefined
export async function testUsers (): Promise<string> {
  users ??= Promise.all(Object.entries(PASSWORDS).map(async ([name, password]) => `${name}:${await hashPassword(password)}`))
    .then((entries) => entries.join(','))
  return await users
}

/** Configuration pointing both connections at a test server: things in db 0, sessions in db 1. */
export async function baseConfig (redis: RedisServer): Promise<Record<string, unknown>> {
  return {
    REDIS_URL: `redis://127.0.0.1:${redis.port}/0`,
    SESSIONS_URL: `redis://127.0.0.1:${redis.port}/1`,
    SESSION_SECRET: SECRET,
    USERS: await testUsers()
  }
}

export interface Logged {
  app: FastifyInstance
  logs: Array<Record<string, any>>
}

/**
 * Builds the example app on a test server, never reading process.env, and
 * closes it in teardown. `config` is merged over `baseConfig`; a key set to
 * undefined is left out.
 */
export async function buildExample (t: Teardown, redis: RedisServer, config: Record<string, unknown> = {}): Promise<Logged> {
  const logs: Array<Record<string, any>> = []
  const data = Object.fromEntries(Object.entries({ ...await baseConfig(redis), ...config }).filter(([, v]) => v !== undefined))
  const app = build({
    env: false,
    config: data,
    logger: guardedLogger('warn', (line) => { logs.push(JSON.parse(line)) })
  })
  app.addHook('onSend', async (request, _reply, payload) => {
    if (typeof payload === 'string') checkText(payload, `response to ${request.method} ${request.url}`)
    return payload
  })
  t.teardown(() => app.close())
  await app.ready()
  return { app, logs }
}

/** The session cookie a response sets (undefined when it sets none). */
export function sessionCookie (res: LightMyRequestResponse): { value: string, [attribute: string]: unknown } | undefined {
  return (res.cookies as Array<{ name: string, value: string }>).find((c) => c.name === 'sessionId')
}

/** The session id inside a signed cookie value (`<id>.<signature>`). */
export function sessionIdOf (cookie: string): string {
  return cookie.slice(0, cookie.lastIndexOf('.'))
}

export async function login (app: FastifyInstance, username = 'alice', password: string = PASSWORDS.alice, cookie?: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username, password }, ...(cookie && { cookies: { sessionId: cookie } }) })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return sessionCookie(res)!.value
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `check` holds, for at most `ms`. */
export async function until (check: () => boolean, ms = 10000): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`)
    await sleep(25)
  }
}

/** process.env without any key the example app reads, plus `extra`. */
function childEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(REDIS|SESSIONS)_|^(HOST|PORT|THING_TTL|SESSION_SECRET|SESSION_TTL|USERS|COOKIE_SECURE|TRUST_PROXY|WAIT_FOR_REDIS)$/.test(key)) continue
    env[key] = value
  }
  return { ...env, ...extra }
}

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface Spawned {
  /** Resolves when the process has exited. */
  done: Promise<Run>
  /** Resolves with the first stdout line matching `pattern`. */
  line (pattern: RegExp): Promise<string>
  kill (signal: NodeJS.Signals): void
  /** Writes to its standard input (with `keepStdin`). */
  write (text: string): void
  /** Its process id. */
  readonly pid: number
}

export interface RunOptions {
  args?: string[]
  env?: Record<string, string>
  input?: string
  /** The command `npm run example` runs, with tap's coverage off in the child. */
  exact?: boolean
  /** Turns the command line into another one that runs it (in a network namespace, on a terminal…). */
  wrap?: (argv: string[]) => string[]
  /** Leave standard input open, for write(). */
  keepStdin?: boolean
  /** Files whose coverage the child records, besides `script`. */
  cover?: string[]
}

/**
 * Runs a script of the example app in a child process.
 *
 * `exact`: the command the README gives (node with tsx), with tap's coverage
 * off in the child. Otherwise with the test process's own node flags (tsx,
 * as .taprc sets), recording coverage of that script only: raw V8 coverage is
 * merged range by range per file, so a file must not be covered by two
 * different transpilations, nor twice by the same loader in two module formats.
 */
export function runNode (t: Teardown, script: string, options: RunOptions = {}): Spawned {
  const exact = options.exact ?? false
  const nodeArgs = exact ? ['--conditions=fastify-node-redis-source', '--import', 'tsx'] : process.execArgv
  const coverage: Record<string, string> = exact
    ? { _TAPJS_PROCESSINFO_COVERAGE_: '0' }
    : { _TAPJS_PROCESSINFO_COV_FILES_: [script, ...options.cover ?? []].map((file) => resolve(file)).join('\n') }
  return runCommand(t, [process.execPath, ...nodeArgs, script, ...(options.args ?? [])], { ...options, env: { ...options.env, ...coverage } })
}

/** `npm run example`, exactly as a user types it (coverage off in the child). */
export function runNpmExample (t: Teardown, options: RunOptions = {}): Spawned {
  return runCommand(t, ['npm', 'run', 'example'], { ...options, env: { ...options.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' } })
}

const which = (name: string): string => ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((dir) => `${dir}/${name}`).find((path) => existsSync(path)) ?? name
const IP = which('ip')
const UNSHARE = which('unshare')

/**
 * Wraps a command line to run in a network namespace of its own (`unshare
 * -n`, as root): a fresh machine's view, where nothing listens on 6379 (nor
 * anywhere else) and only the loopback interface is up.
 */
export function inOwnNetwork (argv: string[]): string[] {
  return [UNSHARE, '-n', '/bin/sh', '-c', `${IP} link set lo up && exec "$@"`, 'sh', ...argv]
}

/** Runs `argv` inside the network namespace of process `pid` (curl, say); resolves with its stdout. */
export async function inNetworkOf (pid: number, argv: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
    child.on('close', (code) => {
      checkText(out + err, `output of ${argv.join(' ')}`)
      if (code === 0) resolve(out)
      else reject(new Error(`${argv.join(' ')} exited with ${code}: ${err}`))
    })
  })
}

function runCommand (t: Teardown, argv: string[], options: RunOptions): Spawned {
  const command = options.wrap?.(argv) ?? argv
  const child = spawn(command[0], command.slice(1), {
    env: childEnv(options.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  if (options.keepStdin !== true) child.stdin.end(options.input ?? '')
  let stdout = ''
  let stderr = ''
  const waiting: Array<{ pattern: RegExp, resolve: (line: string) => void }> = []
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    for (const w of waiting.slice()) {
      const found = stdout.split('\n').find((l) => w.pattern.test(l))
      if (found !== undefined) {
        waiting.splice(waiting.indexOf(w), 1)
        w.resolve(found)
      }
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const done = new Promise<Run>((resolve) => {
    child.on('close', (code, signal) => {
      checkText(stdout + stderr, `output of ${argv.join(' ')}`)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return {
    done,
    pid: child.pid!,
    line: async (pattern) => await new Promise((resolve, reject) => {
      waiting.push({ pattern, resolve })
      done.then((run) => reject(new Error(`exited (${run.code}) before printing ${pattern}:\n${run.stdout}\n${run.stderr}`)), reject)
    }),
    kill: (signal) => { child.kill(signal) },
    write: (text) => { child.stdin.write(text) }
  }
}
