// Compile-only tests of the public types: `npm run test:types` (tsc --noEmit)
// must accept every line here, and every @ts-expect-error must be an error.
import Fastify from 'fastify'
import { createClient, type RedisClientType } from 'redis'
import fastifyRedis, {
  fastifyRedis as named,
  redisEnvSchema,
  errorCodes,
  FST_REDIS_CONFIG,
  type FastifyNodeRedisOptions,
  type FastifyRedisConnections,
  type RedisClient,
  type RedisEnvConfig,
  type RedisEnvSchema,
  redisHealth,
  type RedisHealth,
  type RedisSubscriber,
  redisMetrics,
  type RedisMetrics,
  type RedisConnectionMetrics
} from 'fastify-node-redis'
import { Registry, register as defaultRegistry } from 'prom-client'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const yes = true as const

/** Marks a value as used, so that the expression is type-checked. */
function use (..._values: unknown[]): void {}

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    typesCache: RedisClient
    typesEvents: RedisSubscriber
  }
}

async function main (): Promise<void> {
  const app = Fastify()
  await app.register(fastifyRedis)
  await app.register(named, { prefix: 'CACHE', url: 'redis://localhost:6379/1', connectTimeout: 1000 })
  await app.register(fastifyRedis, { host: '/tmp/redis.sock', port: '6380', db: '2', tls: { ca: 'pem' }, lazyConnect: true })
  await app.register(fastifyRedis, { clientClass: 'redis#createClient', config: { REDIS_URL: 'redis://h' } })
  await app.register(fastifyRedis, { clientClass: createClient })
  await app.register(fastifyRedis, { client: createClient(), closeClient: true })
  await app.register(fastifyRedis, { prefix: 'TYPES_EVENTS', subscriber: true })
  await app.register(fastifyRedis, { prefix: 'TYPES_EVENTS', subscriber: 'yes', sameAs: 'cache' })
  // @ts-expect-error subscriber is a boolean
  await app.register(fastifyRedis, { prefix: 'TYPES_EVENTS', subscriber: 'events' })

  // A subscriber has subscriber mode's commands, and no data commands or lifecycle of its own.
  const events = app.redis.typesEvents
  await events.subscribe('news', (message: string, channel: string) => use(message, channel))
  await events.pSubscribe(['news.*'], (message) => use(message))
  await events.sSubscribe('shard', (message) => use(message))
  await events.unsubscribe()
  await events.PUNSUBSCRIBE('news.*')
  use(await events.ping(), events.isReady, events.isPubSubActive)
  events.on('error', (err: Error) => use(err))
  // @ts-expect-error a RESP2 subscriber refuses data commands
  await events.get('k')
  // @ts-expect-error the plugin opens and closes it
  await events.connect()
  // @ts-expect-error the plugin opens and closes it
  await events.quit()

  // Augmented names are typed with node-redis's own command types.
  const value: string | null = await app.redis.typesCache.get('k')
  const plain: RedisClientType = app.redis.typesCache
  use(value)
  use(plain)

  app.get('/', async function () {
    return { hits: await this.redis.typesCache.incr('hits') }
  })

  // @ts-expect-error a misspelt connection name does not compile
  use(app.redis.typesCahce)
  // @ts-expect-error a name nobody declared does not compile
  use(app.redis.anything)
  // @ts-expect-error replies are typed: GET gives string | null, not number
  const wrong: number = await app.redis.typesCache.get('k')
  use(wrong)
  // @ts-expect-error the default client has no such command or script
  use(app.redis.typesCache.bump)

  // @ts-expect-error unknown options are rejected
  await app.register(fastifyRedis, { prefx: 'CACHE' })
  // @ts-expect-error port is a number or a numeric string
  await app.register(fastifyRedis, { port: true })
  // @ts-expect-error tls is a boolean (or a boolean word) or Node TLS options
  await app.register(fastifyRedis, { tls: 'on' })
  // @ts-expect-error port is a number or a string of digits, not any string
  await app.register(fastifyRedis, { port: 'x' })
  // @ts-expect-error db is a number or a numeric string
  await app.register(fastifyRedis, { db: 'two' })
  // @ts-expect-error timeouts are milliseconds, not durations
  await app.register(fastifyRedis, { connectTimeout: '5s' })
  // @ts-expect-error commandTimeout is a number of milliseconds
  await app.register(fastifyRedis, { commandTimeout: 'never' })
  // @ts-expect-error closeTimeout is a number of milliseconds
  await app.register(fastifyRedis, { closeTimeout: '' })
  // @ts-expect-error lazyConnect is a boolean or a boolean word
  await app.register(fastifyRedis, { lazyConnect: 'maybe' })
  // @ts-expect-error lazyConnect: 2 is no boolean
  await app.register(fastifyRedis, { lazyConnect: 2 })
  // @ts-expect-error closeClient is a real boolean
  await app.register(fastifyRedis, { client: createClient(), closeClient: 'true' })
  // What the runtime accepts, the types accept.
  await app.register(fastifyRedis, { port: '6379', db: 0, connectTimeout: '1000', tls: 1, lazyConnect: 'yes' })
  await app.register(fastifyRedis, { tls: 'FALSE', lazyConnect: 0 })
  await app.register(fastifyRedis, { tls: 'True', lazyConnect: '1' })
  // Fastify's own register options are accepted.
  await app.register(fastifyRedis, { prefix: 'LOGGED', logLevel: 'warn' })
  // @ts-expect-error connectTimeout is not an object
  await app.register(fastifyRedis, { connectTimeout: {} })
  // @ts-expect-error clientClass is a function, a class or a module path string
  await app.register(fastifyRedis, { clientClass: 42 })

  const options: FastifyNodeRedisOptions = { prefix: 'X' }
  use(options)
  const connections: FastifyRedisConnections = app.redis
  use(connections)

  // The env schema and the config type it describes.
  const schema = redisEnvSchema('REDIS', 'CACHE')
  const port: { type: string } = schema.properties.CACHE_PORT
  use(port)
  // @ts-expect-error no such key for these prefixes
  use(schema.properties.OTHER_PORT)
  const config: RedisEnvConfig<'REDIS' | 'CACHE'> = { REDIS_PORT: 6380, CACHE_TLS: true, CACHE_URL: 'redis://h' }
  use(config)
  // @ts-expect-error PORT is a number once env-schema has coerced it
  const badConfig: RedisEnvConfig<'REDIS'> = { REDIS_PORT: '6380' }
  use(badConfig)

  const envs = {} as RedisEnvConfig<'REDIS' | 'CACHE'>
  const e1: Equal<typeof envs.CACHE_PORT, number | undefined> = yes
  const e2: Equal<typeof envs.REDIS_TLS, boolean | undefined> = yes
  const e3: Equal<typeof envs.REDIS_URL, string | undefined> = yes
  const e4: Equal<typeof envs.CACHE_LAZY_CONNECT, boolean | undefined> = yes
  const e5: Equal<RedisEnvConfig, RedisEnvConfig<'REDIS'>> = yes
  const e6: Equal<keyof RedisEnvConfig<'A'>, 'A_URL' | 'A_HOST' | 'A_PORT' | 'A_DB' | 'A_USERNAME' | 'A_PASSWORD' | 'A_UNIX_SOCKET_PATH' | 'A_TLS' | 'A_CONNECT_TIMEOUT' | 'A_CLOSE_TIMEOUT' | 'A_COMMAND_TIMEOUT' | 'A_CLASS' | 'A_LAZY_CONNECT' | 'A_METRICS' | 'A_CLUSTER_NODES' | 'A_POOL' | 'A_SUBSCRIBER' | 'A_SAME_AS' | 'A_SENTINEL_NODES' | 'A_SENTINEL_NAME' | 'A_SENTINEL_USERNAME' | 'A_SENTINEL_PASSWORD'> = yes
  // @ts-expect-error not a key of these prefixes
  use(envs.SESSIONS_URL)
  // Config keys use the upper-cased prefix.
  const lower: Equal<keyof RedisEnvConfig<'cache'>, keyof RedisEnvConfig<'CACHE'>> = yes
  use(lower, redisEnvSchema('cache').properties.CACHE_URL)
  // @ts-expect-error there is no lower-case key
  use(redisEnvSchema('cache').properties.cache_URL)
  const s1: RedisEnvSchema<'REDIS' | 'CACHE'> = redisEnvSchema('REDIS', 'CACHE')
  const s2: RedisEnvSchema<'REDIS'> = redisEnvSchema()
  // @ts-expect-error no CACHE keys in a REDIS-only schema
  use(s2.properties.CACHE_PORT)
  const bigger = { type: 'object', properties: { PORT: { type: 'integer' }, ...redisEnvSchema('CACHE').properties } }
  class MyRedis { constructor (_options: object) { use(_options) } }
  await app.register(fastifyRedis, { clientClass: MyRedis })
  await app.register(fastifyRedis, { clientClass: './lib/x.js#make', commandTimeout: 0, closeTimeout: '100' })
  use(e1, e2, e3, e4, e5, e6, s1, bigger)

  const health: RedisHealth = await redisHealth(app, { timeout: 100 })
  const status: 'ready' | 'down' | 'timeout' | 'error' | undefined = health.connections.typesCache?.status
  use(status)
  // @ts-expect-error the timeout is a number of milliseconds
  await redisHealth(app, { timeout: '1s' })

  // Metrics: on, in a prom-client registry (a new one or the default), from a config word.
  await app.register(fastifyRedis, { prefix: 'M1', metrics: true })
  await app.register(fastifyRedis, { prefix: 'M2', metrics: new Registry() })
  await app.register(fastifyRedis, { prefix: 'M3', metrics: defaultRegistry, clusterNodes: ['redis://h:7000'] })
  await app.register(fastifyRedis, { prefix: 'M4', metrics: 'yes' })
  const metrics: RedisMetrics = redisMetrics(app)
  const m = metrics.connections.typesCache
  if (m?.enabled === true) {
    const on: RedisConnectionMetrics = m
    const state: 'new' | 'ready' | 'down' = on.state
    const counts: number[] = on.latency.counts
    const errors: number | undefined = on.errors.ErrorReply
    use(state, counts, errors, on.commands, on.reconnects, on.downMs, on.channels, on.messages)
  }
  // @ts-expect-error redisMetrics is synchronous: no promise to await for a field
  use(redisMetrics(app).then)
  // @ts-expect-error metrics is a boolean (or a boolean word) or a prom-client Registry
  await app.register(fastifyRedis, { metrics: 'prometheus' })
  // @ts-expect-error an object that is not a registry is refused
  await app.register(fastifyRedis, { metrics: {} })
  // @ts-expect-error nor a number other than 0 and 1
  await app.register(fastifyRedis, { metrics: 2 })

  const code: 'FST_REDIS_CONFIG' = new FST_REDIS_CONFIG('x').code
  use(code)
  use(errorCodes.FST_REDIS_CONNECT)
}
use(main)
