import fastifyEnv from '@fastify/env'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fastifyRedis, { type RedisClient, type RedisSubscriber } from 'fastify-node-redis'
import { randomBytes } from 'node:crypto'
import { configOf, configSchema, eventsConfig, sessionsConfig } from './config'
import { errorHandler } from './errors'
import { health } from './health'
import { hashPassword, parseUsers } from './passwords'
import { sessions } from './sessions'
import { things } from './things'

// The connections this app registers, declared the way the README teaches:
// `app.redis.redis` and `app.redis.sessions` are typed, a misspelt name is a
// compile error. With REDIS_CLUSTER_NODES / SESSIONS_CLUSTER_NODES they are
// cluster clients at run time, with REDIS_SENTINEL_NODES / SESSIONS_SENTINEL_NODES
// Sentinel clients (node-redis 5+); every command the app sends exists on all.
declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    /** Prefix REDIS: the things. */
    redis: RedisClient
    /** Prefix SESSIONS: the sessions. */
    sessions: RedisClient
    /** Prefix EVENTS: the live feed's subscriber (in the things routes' context only). */
    events: RedisSubscriber
  }
}

/**
 * How long stopping the app (SIGINT / SIGTERM to `npm run example`) may
 * take: each of the three connections closes within its closeTimeout (5 s by
 * default), one after the other, plus slack. Past it, server.ts exits anyway.
 */
export const CLOSE_BOUND_MS = 16_000

export interface BuildOptions {
  /** Configuration values; they win over the environment. */
  config?: Record<string, unknown>
  /** Read `process.env` too. @default true */
  env?: boolean
  /** Fastify's logger option. @default false */
  logger?: FastifyServerOptions['logger']
}

/**
 * Builds the app: configuration from the environment (`@fastify/env`), two
 * Redis connections, a health check, the things API and the session routes.
 * Call `ready()` or `listen()` on the result; startup fails if Redis cannot
 * be reached.
 */
export function build (options: BuildOptions = {}): FastifyInstance {
  let trustProxy = false
  const app = Fastify({
    logger: options.logger ?? false,
    // TRUST_PROXY is only known once the configuration is loaded, and
    // Fastify takes this option at construction: a function reads it late.
    trustProxy: (_address, hop) => trustProxy && hop === 0
  })
  app.setErrorHandler(errorHandler())

  app.register(fastifyEnv, { schema: configSchema(), data: options.config ?? {}, env: options.env ?? true })
  // Both read their REDIS_* / SESSIONS_* keys from app.config.
  app.register(fastifyRedis)
  // Options as a function: Fastify calls it once @fastify/env has run.
  app.register(fastifyRedis, (parent) => ({ prefix: 'SESSIONS', config: { ...sessionsConfig(configOf(parent)) } }))

  app.register(async function routes (app) {
    const config = configOf(app)
    trustProxy = config.TRUST_PROXY

    let users: Map<string, string>
    if (config.USERS === undefined || config.USERS.trim() === '') {
      users = new Map([['demo', await hashPassword('demo')]])
      app.log.warn('USERS is not set: a demo user "demo" with password "demo" can log in; set USERS for anything but a demo')
    } else {
      users = parseUsers(config.USERS)
    }
    let secret = config.SESSION_SECRET
    if (secret === undefined) {
      secret = randomBytes(32).toString('base64url')
      app.log.warn('SESSION_SECRET is not set: using a random one, so sessions end when the app restarts')
    }

    await app.register(health, { timeout: config.WAIT_FOR_REDIS })
    await app.register(things, { client: app.redis.redis, events: eventsConfig(config), ttl: config.THING_TTL, timeout: config.WAIT_FOR_REDIS })
    await app.register(sessions, {
      client: app.redis.sessions,
      secret,
      users,
      decoy: await hashPassword(randomBytes(16).toString('hex')),
      ttl: config.SESSION_TTL,
      secure: config.COOKIE_SECURE === 'auto' ? 'auto' : config.COOKIE_SECURE === 'true',
      timeout: config.WAIT_FOR_REDIS
    })
  })
  return app
}
