import Fastify, { type FastifyInstance } from 'fastify'
import fastifyRedis, { type FastifyNodeRedisOptions } from 'fastify-node-redis'
import { checkError, guardedLogger } from './secret-guard'

export interface Captured {
  app: FastifyInstance
  /** Every log line, parsed. */
  logs: Array<Record<string, any>>
  /** Every log line as written. */
  raw: string[]
}

interface Teardown { teardown (fn: () => unknown): void }

/**
 * A Fastify instance for a test. Every test builds its instances here (or
 * with appWithLogs): they log every line, at trace level, through the secret
 * guard.
 */
export function testApp (): FastifyInstance {
  return Fastify({ logger: guardedLogger() })
}

/** A Fastify instance whose log lines at `level` and above are kept for assertions; closed in teardown. */
export function appWithLogs (t: Teardown, level = 'debug'): Captured {
  const logs: Array<Record<string, any>> = []
  const raw: string[] = []
  const app = Fastify({
    logger: guardedLogger(level, (line) => {
      raw.push(line)
      logs.push(JSON.parse(line))
    })
  })
  t.teardown(() => app.close())
  return { app, logs, raw }
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it returns true or `ms` pass; returns the time it took. */
export async function eventually (check: () => Promise<boolean>, ms = 5000, every = 20): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - start
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`)
    await sleep(every)
  }
}

/** Registers one connection on `app` and waits for startup: the error it failed with (if any), and how long it took. */
export async function startupError (app: FastifyInstance, options: FastifyNodeRedisOptions): Promise<{ err: any, ms: number }> {
  app.register(fastifyRedis, options)
  const started = Date.now()
  const err = await Promise.resolve(app.ready()).then(() => undefined, (e: unknown) => e)
  checkError(err)
  return { err, ms: Date.now() - started }
}
