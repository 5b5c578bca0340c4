import type { FastifyInstance } from 'fastify'
import { redisEnvSchema, type RedisEnvConfig } from 'fastify-node-redis'

/** The values of COOKIE_SECURE. */
export type CookieSecure = 'auto' | 'true' | 'false'

/** The app's configuration, as `@fastify/env` validates and decorates it. */
export interface AppConfig extends RedisEnvConfig<'REDIS' | 'SESSIONS' | 'EVENTS'> {
  /** Interface `server.ts` listens on. */
  HOST: string
  /** Port `server.ts` listens on (0: any free port). */
  PORT: number
  /** Seconds a thing lives after its last PUT: 31,104,000 (360 days) by default. */
  THING_TTL: number
  /** Signs the session cookie: 32 characters or more. Random when unset. */
  SESSION_SECRET?: string
  /** Seconds a session lives after its last request. */
  SESSION_TTL: number
  /** `name:scrypt-hash` pairs, comma-separated. Unset: a demo user demo/demo. */
  USERS?: string
  /**
   * The session cookie's `Secure` attribute. `auto`: set when the request
   * came over HTTPS (or with `X-Forwarded-Proto: https` from a trusted
   * proxy); `true`: always, and session routes refuse plain HTTP; `false`:
   * never.
   */
  COOKIE_SECURE: CookieSecure
  /** Trust `X-Forwarded-Proto` from the one proxy in front of the app. */
  TRUST_PROXY: boolean
  /** Milliseconds a request waits for an answer from Redis before it gets a 503. */
  WAIT_FOR_REDIS: number
}

type ConfigSchema = { type: 'object', additionalProperties: false, properties: Record<string, object> }
let schema: ConfigSchema | undefined

/**
 * JSON schema of the configuration: every REDIS_* and SESSIONS_* key of the
 * plugin, and the app's own keys. One object per process: env-schema
 * validates with one shared Ajv instance that compiles and keeps every
 * schema object it is given, so a new object per `build()` grew the heap by
 * about 80 KB a build. (env-schema writes `additionalProperties: false` into
 * it, which it already says.)
 */
export function configSchema (): ConfigSchema {
  schema ??= schemaOf()
  return schema
}

function schemaOf (): ConfigSchema {
  const redis = redisEnvSchema('REDIS', 'SESSIONS', 'EVENTS')
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...redis.properties,
      HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
      PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
      // 360 days: the value of the prototype this store is modelled on.
      THING_TTL: { type: 'integer', minimum: 1, default: 360 * 24 * 60 * 60 },
      SESSION_SECRET: { type: 'string', minLength: 32 },
      SESSION_TTL: { type: 'integer', minimum: 1, default: 86400 },
      USERS: { type: 'string' },
      // A string (the environment's booleans are coerced to 'true' / 'false').
      COOKIE_SECURE: { type: 'string', enum: ['auto', 'true', 'false'], default: 'auto' },
      TRUST_PROXY: { type: 'boolean', default: false },
      WAIT_FOR_REDIS: { type: 'integer', minimum: 1, default: 2000 }
    }
  }
}

/**
 * The keys the SESSIONS connection reads: sessions go to db 1 unless
 * SESSIONS_DB or a db in SESSIONS_URL says otherwise, or SESSIONS_CLUSTER_NODES
 * points at a Redis Cluster (database 0 only). A default key rather than a
 * `db` option of the plugin: explicit options beat config keys, and the
 * environment must win.
 */
export function sessionsConfig (config: AppConfig): AppConfig {
  if (config.SESSIONS_DB !== undefined || config.SESSIONS_CLUSTER_NODES !== undefined) return config
  return { ...config, SESSIONS_DB: 1 }
}

/** The validated configuration of an app (after `@fastify/env` has run). */
export function configOf (app: FastifyInstance): AppConfig {
  return app.getEnvs<AppConfig>()
}

/** The keys that say where a connection goes and how long it waits. */
const CONNECTION_KEYS = ['URL', 'HOST', 'PORT', 'DB', 'USERNAME', 'PASSWORD', 'UNIX_SOCKET_PATH', 'TLS', 'CONNECT_TIMEOUT', 'COMMAND_TIMEOUT', 'CLOSE_TIMEOUT'] as const

/**
 * The keys of the live feed's subscriber connection (prefix EVENTS): its own
 * EVENTS_* keys when any says where to connect, else those of REDIS, so it
 * subscribes where the PUTs publish. With REDIS_CLUSTER_NODES, the first
 * node (Redis Cluster delivers a PUBLISH on every node). Undefined with
 * REDIS_SENTINEL_NODES and no EVENTS_URL: the feed is off.
 */
export function eventsConfig (config: AppConfig): Record<string, unknown> | undefined {
  const own = config as unknown as Record<string, unknown>
  if (CONNECTION_KEYS.some((key) => own[`EVENTS_${key}`] !== undefined)) return own
  if (config.REDIS_SENTINEL_NODES !== undefined) return undefined
  const events: Record<string, unknown> = {}
  for (const key of CONNECTION_KEYS) events[`EVENTS_${key}`] = own[`REDIS_${key}`]
  if (config.REDIS_CLUSTER_NODES !== undefined) {
    events.EVENTS_URL = config.REDIS_CLUSTER_NODES.split(',')[0].trim()
  }
  return events
}
