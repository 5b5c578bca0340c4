import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

// autocannon ships no types and @types/autocannon is not a dependency: the
// part of its programmatic API the load test uses, loaded through require so
// that no ambient `declare module 'autocannon'` is needed (bench/ has one).

/** One request of autocannon's `requests` sequence; each connection runs the sequence in a loop. */
export interface LoadRequest<Context> {
  method?: 'GET' | 'PUT'
  path?: string
  headers?: Record<string, string>
  body?: string
  /** Called before each send; returns the request to send. */
  setupRequest?: (request: LoadRequest<Context>, context: Context) => LoadRequest<Context>
  /** Called with every response to this request (the body as a string). */
  onResponse?: (status: number, body: string, context: Context) => void
}

export interface LoadOptions<Context> {
  url: string
  connections: number
  /** Seconds. */
  duration: number
  pipelining?: number
  /** Seconds before a request counts as a timeout (and an error). @default 10 */
  timeout?: number
  /** The sequence every connection repeats. Its context starts again from `{}` at each repetition. */
  requests: Array<LoadRequest<Context>>
}

export interface LoadResult {
  /** Seconds the run took. */
  duration: number
  /** Connection errors and timeouts. */
  errors: number
  timeouts: number
  /** Responses other than 2xx. */
  non2xx: number
  /** Responses whose body did not match (unused here, reported anyway). */
  mismatches: number
  /** Times a `setupRequest` returned nothing and the sequence started again. */
  resets: number
  requests: { total: number, average: number, sent: number }
  statusCodeStats: Record<string, { count: number }>
}

type Autocannon = <Context>(options: LoadOptions<Context>, callback: (err: Error | null, result: LoadResult) => void) => { stop (): void }

const autocannon = createRequire(__filename)('autocannon') as Autocannon

/** Runs autocannon in this process and resolves with its result. */
export async function load<Context> (options: LoadOptions<Context>): Promise<LoadResult> {
  return await new Promise((resolve, reject) => {
    autocannon(options, (err, result) => { if (err !== null) reject(err); else resolve(result) })
  })
}

// tap takes node arguments for every test file at once (.taprc), so the load
// test turns on --expose-gc for itself, the way V8 allows at run time.
let gc: (() => void) | undefined
function collect (): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc
    if (exposed !== undefined) {
      gc = exposed
    } else {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc') as () => void
    }
  }
  gc()
}

/**
 * `heapUsed` of this isolate after full garbage collections, with pauses in
 * between so that closed sockets and finished promises are released first.
 */
export async function heapAfterGc (): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    collect()
  }
  return process.memoryUsage().heapUsed
}

export const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
