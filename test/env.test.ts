import { once } from 'node:events'
import fastifyEnv from '@fastify/env'
import { test } from 'tap'
import fastifyRedis, { redisEnvSchema, type RedisClient, type RedisEnvConfig } from 'fastify-node-redis'
import { startRedis } from './helpers/redis'
import { testApp } from './helpers/app'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    redis: RedisClient
    cache: RedisClient
  }
}

type Config = RedisEnvConfig<'REDIS' | 'CACHE'>

const SUFFIXES = ['URL', 'HOST', 'PORT', 'DB', 'USERNAME', 'PASSWORD', 'UNIX_SOCKET_PATH', 'TLS',
  'CONNECT_TIMEOUT', 'CLOSE_TIMEOUT', 'COMMAND_TIMEOUT', 'CLASS', 'LAZY_CONNECT', 'METRICS', 'CLUSTER_NODES', 'POOL', 'SUBSCRIBER', 'SAME_AS', 'SENTINEL_NODES', 'SENTINEL_NAME', 'SENTINEL_USERNAME', 'SENTINEL_PASSWORD']

/** What CLIENT INFO says about a connection: `{ db: '3', user: 'default', … }`. */
async function clientInfo (client: { sendCommand (args: string[]): Promise<unknown> }): Promise<Record<string, string>> {
  const line = String(await client.sendCommand(['CLIENT', 'INFO'])).trim()
  return Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
}

test('redisEnvSchema() describes every PREFIX_* key of every prefix, none required, no defaults', async (t) => {
  const schema = redisEnvSchema('REDIS', 'CACHE')
  t.equal(schema.type, 'object')
  t.same(Object.keys(schema.properties).sort(),
    ['REDIS', 'CACHE'].flatMap((p) => SUFFIXES.map((s) => `${p}_${s}`)).sort())
  t.match(schema.properties, {
    REDIS_PORT: { type: 'integer', minimum: 1, maximum: 65535 },
    REDIS_DB: { type: 'integer', minimum: 0 },
    REDIS_TLS: { type: 'boolean' },
    REDIS_LAZY_CONNECT: { type: 'boolean' },
    REDIS_METRICS: { type: 'boolean' },
    REDIS_CONNECT_TIMEOUT: { type: 'integer', minimum: 1 },
    REDIS_COMMAND_TIMEOUT: { type: 'integer', minimum: 0 },
    CACHE_URL: { type: 'string' },
    CACHE_PASSWORD: { type: 'string' },
    CACHE_CLASS: { type: 'string' }
  })
  t.notOk('required' in schema)
  for (const property of Object.values(schema.properties)) t.notOk('default' in property)

  t.same(Object.keys(redisEnvSchema().properties), SUFFIXES.map((s) => `REDIS_${s}`), 'no prefix means REDIS')
  t.not(redisEnvSchema('REDIS').properties.REDIS_PORT, redisEnvSchema('REDIS').properties.REDIS_PORT,
    'every call returns fresh objects (env-schema mutates the schema it is given)')
})

test('@fastify/env coerces the strings of the environment, and each connection uses its own keys', async (t) => {
  const main = await startRedis(t)
  const cache = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())

  await app.register(fastifyEnv, {
    schema: redisEnvSchema('REDIS', 'CACHE'),
    env: false, // only `data`: a stray REDIS_URL in the test runner's environment must not leak in
    data: {
      REDIS_URL: `redis://127.0.0.1:${main.port}/3`,
      REDIS_CONNECT_TIMEOUT: '2000',
      CACHE_HOST: '127.0.0.1',
      CACHE_PORT: String(cache.port),
      CACHE_DB: '5',
      CACHE_TLS: 'false',
      CACHE_LAZY_CONNECT: 'true',
      UNRELATED: 'dropped'
    }
  })
  await app.register(fastifyRedis)
  await app.register(fastifyRedis, { prefix: 'CACHE' })
  await app.ready()

  t.same(app.getEnvs<Config>(), {
    REDIS_URL: `redis://127.0.0.1:${main.port}/3`,
    REDIS_CONNECT_TIMEOUT: 2000,
    CACHE_HOST: '127.0.0.1',
    CACHE_PORT: cache.port,
    CACHE_DB: 5,
    CACHE_TLS: false,
    CACHE_LAZY_CONNECT: true
  }, "'6380' -> 6380, 'true' -> true, 'false' -> false; keys outside the schema are dropped")

  const { redis: r, cache: c } = app.redis
  // CACHE_LAZY_CONNECT: startup did not wait for it.
  if (!c.isReady) await once(c, 'ready')

  t.equal((await clientInfo(r)).db, '3', 'REDIS_URL chose db 3')
  t.equal((await clientInfo(c)).db, '5', 'CACHE_DB chose db 5')
  t.same((await main.clients()).map((x) => x.db), ['3'], 'the REDIS server sees one connection, on db 3')
  t.same((await cache.clients()).map((x) => x.db), ['5'], 'the CACHE server sees one connection, on db 5')

  await r.set('k', 'from redis')
  await c.set('k', 'from cache')
  t.equal(await main.command('GET', 'k'), null, 'db 0 of the REDIS server is untouched')
  t.equal(await main.command('SELECT', '3').then(() => main.command('GET', 'k')), 'from redis')
  t.equal(await cache.command('SELECT', '5').then(() => cache.command('GET', 'k')), 'from cache')
})

test('README example: @fastify/env reads the process environment, the plugin reads app.config', async (t) => {
  const main = await startRedis(t)
  const cache = await startRedis(t)
  const saved = { ...process.env }
  t.teardown(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
    Object.assign(process.env, saved)
  })
  for (const key of Object.keys(process.env)) if (/^(REDIS|CACHE)_/.test(key)) delete process.env[key]
  // What a deployment would export:
  process.env.REDIS_URL = `redis://127.0.0.1:${main.port}/1`
  process.env.CACHE_HOST = '127.0.0.1'
  process.env.CACHE_PORT = String(cache.port)
  process.env.CACHE_DB = '2'

  // --- README: "Configuration from the environment" ---
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyEnv, { schema: redisEnvSchema('REDIS', 'CACHE') })
  await app.register(fastifyRedis)                      // app.config.REDIS_* -> app.redis.redis
  await app.register(fastifyRedis, { prefix: 'CACHE' }) // app.config.CACHE_* -> app.redis.cache
  app.get('/hits', async function () {
    return { hits: await this.redis.cache.incr('hits') }
  })
  // --- end of README example ---

  const config = app.getEnvs<RedisEnvConfig<'REDIS' | 'CACHE'>>()
  const port: number | undefined = config.CACHE_PORT
  t.equal(port, cache.port, 'a number, typed as number | undefined')
  t.equal(config.CACHE_DB, 2)
  const res = await app.inject('/hits')
  t.same(res.json(), { hits: 1 })
  t.same((await main.clients()).map((x) => x.db), ['1'])
  t.same((await cache.clients()).map((x) => x.db), ['2'])
  t.equal(await cache.command('SELECT', '2').then(() => cache.command('GET', 'hits')), '1')
})

test('an invalid environment value fails startup with a message naming the key', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_PORT: 'abc' }, /REDIS_PORT must be integer/],
    [{ CACHE_PORT: '70000' }, /CACHE_PORT must be <= 65535/],
    [{ REDIS_DB: '-1' }, /REDIS_DB must be >= 0/],
    [{ CACHE_TLS: 'sometimes' }, /CACHE_TLS must be boolean/],
    [{ REDIS_CONNECT_TIMEOUT: '0' }, /REDIS_CONNECT_TIMEOUT must be >= 1/],
    [{ REDIS_URL: '' }, /REDIS_URL must NOT have fewer than 1 characters/]
  ]
  for (const [data, message] of cases) {
    const app = testApp()
    t.teardown(() => app.close())
    app.register(fastifyEnv, { schema: redisEnvSchema('REDIS', 'CACHE'), env: false, data })
    app.register(fastifyRedis, { connectTimeout: 100, port: 1 }) // never reached: validation comes first
    await t.rejects(async () => await app.ready(), { message }, JSON.stringify(data))
  }
})

test('the properties can be spread into a larger application schema', async (t) => {
  const cache = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyEnv, {
    env: false,
    schema: {
      type: 'object',
      required: ['PORT', 'CACHE_URL'],
      properties: {
        PORT: { type: 'integer', default: 3000 },
        LOG_LEVEL: { type: 'string', default: 'info' },
        ...redisEnvSchema('CACHE').properties
      }
    },
    data: { CACHE_URL: `redis://127.0.0.1:${cache.port}/4` }
  })
  await app.register(fastifyRedis, { prefix: 'CACHE' })
  await app.ready()

  t.same(app.getEnvs(), { PORT: 3000, LOG_LEVEL: 'info', CACHE_URL: `redis://127.0.0.1:${cache.port}/4` })
  t.same((await cache.clients()).map((x) => x.db), ['4'])
})

test('explicit options beat config keys, field by field', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyEnv, {
    schema: redisEnvSchema('CACHE'),
    env: false,
    data: { CACHE_HOST: '127.0.0.1', CACHE_PORT: '1', CACHE_DB: '5' }
  })
  await app.register(fastifyRedis, { prefix: 'CACHE', port: server.port, db: 6 })
  await app.ready()
  t.same((await server.clients()).map((x) => x.db), ['6'])
})

test('redisEnvSchema() rejects a prefix that cannot name config keys', async (t) => {
  for (const prefix of ['1REDIS', 'RE-DIS', '', 'REDIS ', 42]) {
    t.throws(() => redisEnvSchema('REDIS', prefix as string), {
      code: 'FST_REDIS_CONFIG',
      message: `prefix must match /^[A-Za-z][A-Za-z0-9_]*$/, got ${typeof prefix === 'string' ? JSON.stringify(prefix) : prefix}`
    }, String(prefix))
  }
})

test('a lower-case prefix reads and describes the upper-case keys: redisEnvSchema(\'cache\') is CACHE_*', async (t) => {
  t.same(Object.keys(redisEnvSchema('cache').properties), SUFFIXES.map((s) => `CACHE_${s}`))
  t.same(redisEnvSchema('cache', 'CACHE'), redisEnvSchema('CACHE'), 'the same keys, once')
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyEnv, {
    schema: redisEnvSchema('cache'),
    env: false,
    data: { CACHE_URL: `redis://127.0.0.1:${server.port}/7` }
  })
  await app.register(fastifyRedis, { prefix: 'cache' })
  t.equal(await app.redis.cache.set('k', 'v'), 'OK')
  t.same((await server.clients()).map((x) => x.db), ['7'])
})
