import type { FastifyInstance } from 'fastify'
import { driverOf } from './driver/build'

/** One connection's health. */
export interface RedisConnectionHealth {
  /** `ready`: PING answered; `down`: not connected (or lost during the check); `timeout`: no answer in time; `error`: PING refused (an ACL, say). */
  status: 'ready' | 'down' | 'timeout' | 'error'
  /** Round trip of the PING, when it was answered. */
  latencyMs?: number
  /** Why it is not ready (never contains a secret). */
  error?: string
}

/** The verdict over every connection a context can see. */
export interface RedisHealth {
  /** True when every connection answered. */
  ok: boolean
  /** Names of the connections that did not. */
  failing: string[]
  connections: Record<string, RedisConnectionHealth>
}

export interface RedisHealthOptions {
  /**
   * Milliseconds each PING may take.
   * @default 1000
   */
  timeout?: number
}

async function check (connection: object, timeout: number): Promise<RedisConnectionHealth> {
  // Every connection of the registry has its driver: a cluster answers when every master does.
  const client = driverOf(connection)!
  if (!client.isReady) return { status: 'down', error: 'not connected' }
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<'timeout'>((resolve) => { timer = setTimeout(resolve, timeout, 'timeout') })
  const answer = await Promise.race([client.ping().then(() => 'pong' as const, (err: Error) => err), expired])
  clearTimeout(timer)
  if (answer === 'timeout') return { status: 'timeout', error: `no answer within ${timeout} ms` }
  if (answer instanceof Error) {
    // The PING was cut short because the connection went away under it: the
    // watchdog dropped it to reopen it, or the socket closed. That is "down",
    // not node-redis's "Disconnects client" or "Socket closed unexpectedly".
    if (!client.isReady) return { status: 'down', error: 'not connected: the connection was lost and is being reopened' }
    return { status: 'error', error: answer.message }
  }
  return { status: 'ready', latencyMs: Math.round((performance.now() - started) * 100) / 100 }
}

/**
 * Readiness of every connection `fastify` can see (its own and its
 * ancestors'), checked in parallel with a PING each. Plugs into
 * `@fastify/under-pressure`: `healthCheck: async (app) => (await redisHealth(app)).ok`.
 */
export async function redisHealth (fastify: FastifyInstance, options: RedisHealthOptions = {}): Promise<RedisHealth> {
  const timeout = options.timeout ?? 1000
  const registry = (fastify as unknown as { redis?: Record<string, object> }).redis ?? {}
  const names: string[] = []
  // for…in: the registry inherits the connections of parent contexts.
  for (const name in registry) names.push(name)
  const results = await Promise.all(names.map(async (name) => await check(registry[name], timeout)))
  const connections: Record<string, RedisConnectionHealth> = {}
  const failing: string[] = []
  names.forEach((name, i) => {
    connections[name] = results[i]
    if (results[i].status !== 'ready') failing.push(name)
  })
  return { ok: failing.length === 0, failing, connections }
}
