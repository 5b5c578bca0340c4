// autocannon ships no types and @types/autocannon is not a dependency: the
// part of its programmatic API the benchmark uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  namespace autocannon {
    interface Options {
      url: string
      connections?: number
      pipelining?: number
      duration?: number
      overallRate?: number
      timeout?: number
      method?: string
      headers?: Record<string, string>
      body?: string
    }

    interface Histogram {
      average: number
      mean: number
      min: number
      max: number
      total: number
      p50: number
      p99: number
    }

    interface Result {
      duration: number
      errors: number
      timeouts: number
      non2xx: number
      resets: number
      requests: Histogram & { sent: number }
      latency: Histogram
      statusCodeStats: Record<string, { count: number }>
    }

    interface Instance extends EventEmitter {
      stop (): void
      /** Emitted per response: the HTTP client, status code, bytes and latency in milliseconds (fractional). */
      on (event: 'response', listener: (client: unknown, statusCode: number, bytes: number, latencyMs: number) => void): this
      on (event: string, listener: (...args: any[]) => void): this
    }
  }

  function autocannon (options: autocannon.Options, callback: (err: Error | null, result: autocannon.Result) => void): autocannon.Instance

  export = autocannon
}
