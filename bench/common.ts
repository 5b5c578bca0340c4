import { join } from 'node:path'

/** What every setup serves and the benchmark loads: one "thing", as in the example app. */

/** The prepared hash the GET route reads (HGETALL + TTL). */
export const GET_KEY = 'thing:bench'
/** The path the GET load hits (`/things/bench` reads `thing:bench`). */
export const GET_PATH = '/things/bench'
/** The path the PUT load hits; each setup writes its own key, the same one every time. */
export const PUT_PATH = '/things/bench-put'
/** The path the example app's own thing is stored under (it encodes values its own way). */
export const EXAMPLE_PATH = '/things/bench-example'
/** 360 days, the example app's default THING_TTL. */
export const TTL = 31104000

/** The thing's fields as Redis stores them: HSET takes strings. */
export const THING: Readonly<Record<string, string>> = Object.freeze({
  name: 'espresso machine',
  color: 'red',
  price: '249.99',
  stock: '12',
  tags: 'kitchen,coffee'
})

/** The same thing as a JSON document, for the example app, which keeps value types. */
export const EXAMPLE_THING = Object.freeze({
  name: 'espresso machine',
  color: 'red',
  price: 249.99,
  stock: 12,
  tags: ['kitchen', 'coffee']
})

export type SetupId = 'ceiling' | 'hand' | 'plugin' | 'metrics' | 'ioredis' | 'example'

export const SETUPS: ReadonlyArray<{ id: SetupId, label: string }> = [
  { id: 'ceiling', label: '(a) Fastify, no Redis (ceiling)' },
  { id: 'hand', label: '(b) hand-wired node-redis' },
  { id: 'plugin', label: '(c) fastify-node-redis' },
  { id: 'metrics', label: '(c\') fastify-node-redis, metrics: true' },
  { id: 'ioredis', label: '(d) @fastify/redis (ioredis)' },
  { id: 'example', label: '(e) example app GET /things' }
]

/** Setups that serve the PUT variant (MULTI DEL + HSET + EXPIRE). */
export const PUT_SETUPS: readonly SetupId[] = ['hand', 'plugin', 'metrics', 'ioredis']

/** Messages a server child sends its parent over IPC. */
export type ServerMessage =
  | { type: 'listening', port: number }
  | { type: 'cpu', micros: number }
  | { type: 'skip', reason: string }
  | { type: 'error', message: string }

export interface StartupSample {
  kind: 'empty' | 'plugin' | 'hand'
  connections: number
  /** Milliseconds from `Fastify()` (or the first `createClient`) to ready. */
  startMs: number
  /** Milliseconds `app.close()` (or closing every client) took. */
  closeMs: number
  /** Bytes of RSS and of V8 heap held once ready, against the baseline, after a full GC (first sample of a process only). */
  rssBytes?: number
  heapBytes?: number
}

export interface AllocSample {
  label: string
  reads: number
  bytesPerRead: number
  gcs: number
}

/** Where the benchmark writes its raw results (git-ignored). */
export const RESULTS_DIR = '.bench'

/**
 * Where the example app is expected: `example-app/app.ts` exporting
 * `build({ config, env, logger })`, which returns the Fastify app, not ready.
 */
export const EXAMPLE_APP = join(__dirname, '..', 'example-app', 'app.ts')

/**
 * The example app's configuration (its `build()` takes it as `config`, and
 * is told not to read process.env): both its connections point at the
 * benchmark's own redis-server, never at localhost:6379.
 */
export function exampleConfig (url: string): Record<string, string> {
  return {
    REDIS_URL: `${url}/0`,
    SESSIONS_URL: `${url}/1`,
    THING_TTL: String(TTL),
    SESSION_SECRET: 'a benchmark secret that is long enough for @fastify/session',
    COOKIE_SECURE: 'false'
  }
}
