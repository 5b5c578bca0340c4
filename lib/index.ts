import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { createClient, createCluster, type RedisClientType, type RedisDefaultModules, type RedisFunctions, type RedisModules, type RedisScripts } from 'redis'
import { resolveBuilder, type Kind } from './client-class'
import { Connection } from './connection'
import type { Builder } from './driver/build'
import { poolBuilder } from './driver/pool'
import { createSentinel } from './driver/sentinel'
import { FST_REDIS_CONFIG, FST_REDIS_DUPLICATE } from './errors'
import { nameOf, resolveOptions, type ConnectionSpec, type FastifyNodeRedisOptions } from './options'

/**
 * The type of a client the plugin builds: `RedisClient` for the default,
 * `RedisClient<typeof modules, typeof functions, typeof scripts>` when
 * `clientOptions` adds modules, functions or scripts. It follows the
 * installed node-redis major (RESP3 replies on 6).
 */
export type RedisClient<
  M extends RedisModules = {},
  F extends RedisFunctions = {},
  S extends RedisScripts = {}
> = RedisClientType<RedisDefaultModules & M, F, S>

/**
 * The connections `fastify.redis` holds, by name. Empty until you augment it,
 * so a misspelt name is a compile error:
 *
 * ```ts
 * declare module 'fastify-node-redis' {
 *   interface FastifyRedisConnections { cache: RedisClient }
 * }
 * ```
 */
export interface FastifyRedisConnections {}

declare module 'fastify' {
  interface FastifyInstance {
    /** Named node-redis connections: `fastify.redis.<lowercased prefix>`. */
    redis: FastifyRedisConnections
  }
}

// Which context a registry belongs to. A child context inherits its parent's
// registry through the prototype chain and gets its own on first use, so a
// connection is visible where it was registered and below, never above.
const OWNER = Symbol('fastify-node-redis.owner')
type Registry = Record<string, unknown> & { [OWNER]?: FastifyInstance }

function registryOf (fastify: FastifyInstance): Registry {
  const current = (fastify as unknown as { redis?: Registry }).redis
  if (current !== undefined && current[OWNER] === fastify) return current
  const registry: Registry = Object.create(current ?? null)
  Object.defineProperty(registry, OWNER, { value: fastify })
  if (current === undefined) {
    fastify.decorate('redis', registry as unknown as FastifyRedisConnections)
  } else {
    // Shadow the inherited registry on this context only (decorate() refuses
    // a name a parent already has, and must not touch the parent's object).
    (fastify as unknown as { redis: Registry }).redis = registry
  }
  return registry
}

/** The resolved settings of each connection registered, for `sameAs`. */
const specs = new WeakMap<object, ConnectionSpec>()

/** What builds each kind of connection by default (createSentinel is undefined on node-redis 4, which refuses Sentinel). */
const BUILDERS: Record<Kind, Builder> = { client: createClient, cluster: createCluster as Builder, sentinel: createSentinel! }

const plugin: FastifyPluginAsync<FastifyNodeRedisOptions> = async function fastifyNodeRedis (fastify, options) {
  const name = nameOf(options)
  const seen = (fastify as unknown as { redis?: Registry }).redis
  if (seen !== undefined && (typeof seen !== 'object' || seen === null || !(OWNER in seen))) {
    throw new FST_REDIS_CONFIG(`connection "${name}": fastify.redis is already decorated by another plugin (@fastify/redis?); the two cannot share the name`)
  }
  if (seen !== undefined && name in seen) {
    throw new FST_REDIS_DUPLICATE(`connection "${name}" is already registered in this context or a parent; give this one another prefix`)
  }
  const fallbackConfig = (fastify as unknown as { config?: unknown }).config
  const log = fastify.log.child({ redis: name })
  const visible = (other: string): ConnectionSpec | undefined => seen !== undefined && other in seen ? specs.get(seen[other] as object) : undefined
  const spec = resolveOptions(options, fallbackConfig, (message) => log.warn(`fastify-node-redis: ${message}`), visible)

  /* c8 ignore next -- a Sentinel spec exists on node-redis 5 and later only (.ci/run runs the suite on each major) */
  const kind = spec.sentinel !== undefined ? 'sentinel' : spec.cluster !== undefined ? 'cluster' : 'client'
  const build: Builder = spec.pool !== undefined
    ? poolBuilder(name, options.pool !== undefined ? 'option "pool"' : `config key ${spec.prefix}_POOL`)
    : spec.clientClass === undefined
      ? BUILDERS[kind]
      : await resolveBuilder(spec.clientClass, name, kind)
  const connection = new Connection(spec, build, log)
  await connection.start()
  registryOf(fastify)[name] = connection.exposed
  specs.set(connection.exposed, spec)
  fastify.addHook('onClose', async () => { await connection.close() })
}

/** The plugin: `fastify.register(fastifyRedis, { prefix: 'CACHE', url })`. */
const fastifyRedis = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-node-redis'
})

export default fastifyRedis
export { fastifyRedis }
// Types re-exported without `type`: dist/index.d.ts (.ci/build.js)
// aliases every export with `export import`, which refuses type-only ones.
export { FastifyNodeRedisOptions, FastifyRedisSentinelOptions, ClientBuilder, NumberLike, BooleanLike, RedisPoolSettings, MetricsRegistry } from './options'
export { RedisCluster } from './cluster'
export { RedisClientPool } from './pool'
export { RedisSentinel } from './sentinel'
export { RedisSubscriber } from './subscriber'
export { redisEnvSchema, RedisEnvConfig, RedisEnvSchema } from './env-schema'
export { redisHealth, RedisHealth, RedisHealthOptions, RedisConnectionHealth } from './health'
export { redisMetrics, RedisMetrics, RedisConnectionMetrics, RedisConnectionMetricsOff } from './metrics'
export { errorCodes, FST_REDIS_CONFIG, FST_REDIS_DUPLICATE, FST_REDIS_CLIENT_CLASS, FST_REDIS_CONNECT } from './errors'

// CommonJS: `require('fastify-node-redis')` is the plugin itself, with the named
// exports on it, as in the official Fastify plugins.
module.exports = Object.defineProperty(Object.assign(fastifyRedis, module.exports), '__esModule', { value: true })
