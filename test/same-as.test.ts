import { test } from 'tap'
import { createClient } from 'redis'
import fastifyRedis, { type RedisClient, type RedisSubscriber } from 'fastify-node-redis'
import { appWithLogs, eventually } from './helpers/app'
import { startRedis } from './helpers/redis'
import { secret } from './helpers/secret-guard'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    redis: RedisClient
    events: RedisSubscriber
  }
}

test('sameAs: a subscriber goes where another connection goes, without repeating its settings', async (t) => {
  const password = secret('same-as-password')
  const server = await startRedis(t, { password })
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port, password, db: 3, clientOptions: { name: 'main' } })
  await app.register(fastifyRedis, { prefix: 'EVENTS', subscriber: true, config: { EVENTS_SAME_AS: 'REDIS' } })
  const got: string[] = []
  await app.redis.events.subscribe('news', (message) => { got.push(message) })
  await eventually(async () => {
    await app.redis.redis.publish('news', 'hello')
    return got.includes('hello')
  })
  const lines = await server.clients()
  t.same(lines.filter((c) => c.name === 'main').map((c) => c.db), ['3'], 'the client name is not copied')
  t.same(lines.filter((c) => c.name.startsWith('fastify-node-redis:events:')).map((c) => c.db), ['3'], 'the db and password are')
})

test('sameAs with clientOptions of its own keeps those', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port, clientOptions: { name: 'main' } })
  await app.register(fastifyRedis, { prefix: 'OTHER', sameAs: 'redis', clientOptions: { name: 'other' } })
  t.same((await server.clients()).map((c) => c.name).filter(Boolean).sort(), ['main', 'other'])
})

test('sameAs is refused where it cannot work, naming the connection', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port })
  await app.register(fastifyRedis, { prefix: 'PASSED', client: createClient({ socket: { port: server.port } }), closeClient: true })
  await app.register(fastifyRedis, { prefix: 'SHARDS', clusterNodes: `redis://127.0.0.1:${server.port}`, lazyConnect: true, closeTimeout: 200 })
  await app.register(async (child) => {
    await child.register(fastifyRedis, { prefix: 'CHILD', port: server.port })
  })
  const cases: Array<[object, RegExp]> = [
    [{ sameAs: 'child' }, /option "sameAs" names connection "child", which is not registered in this context or a parent/],
    [{ sameAs: 'nope' }, /names connection "nope", which is not registered/],
    [{ sameAs: 'passed' }, /names connection "passed", which is a client passed in: sameAs copies the settings of a single connection the plugin built/],
    [{ sameAs: 'SHARDS' }, /names connection "shards", which is a cluster/],
    [{ sameAs: 'redis', url: 'redis://h' }, /option "url" cannot be combined with option "sameAs": the connection goes where connection "redis" goes/],
    [{ sameAs: 'redis', config: { X_DB: '2' } }, /config key X_DB cannot be combined with option "sameAs"/],
    [{ sameAs: 'redis', client: createClient() }, /option "client" cannot be combined with option "sameAs"/],
    [{ sameAs: '' }, /option "sameAs" must be a non-empty string/]
  ]
  for (const [options, message] of cases) {
    await t.rejects(async () => await fastifyRedis(app, { prefix: 'X', ...options } as any), { code: 'FST_REDIS_CONFIG', message })
  }
})
