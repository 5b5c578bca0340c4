import { test } from 'tap'
import fastifyRedis, { type RedisClient } from 'fastify-node-redis'
import { appWithLogs, eventually } from './helpers/app'
import { startRedis } from './helpers/redis'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    redis: RedisClient
  }
}

test('duplicate() as node-redis\'s README teaches it: survives a Redis restart without a crash, logged by name, closed with the app', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port })
  const sub = app.redis.redis.duplicate()
  await sub.connect()
  const got: string[] = []
  await sub.subscribe('news', (message) => { got.push(message) })
  await server.kill()
  await eventually(async () => logs.some((l) => l.level === 50 && /redis connection "redis \(duplicate 1\)" lost/.test(l.msg)))
  t.equal(logs.find((l) => /duplicate 1/.test(l.msg))!.duplicate, 1, 'its log lines are labelled')
  await server.restart()
  await eventually(async () => {
    await app.redis.redis.publish('news', 'after').catch(() => 0)
    return got.includes('after')
  }, 10000, 50)
  t.ok(logs.some((l) => /redis connection "redis \(duplicate 1\)" is ready again/.test(l.msg)))
  await app.close()
  t.equal(sub.isOpen, false, 'closed in onClose')
  await eventually(async () => (await server.clients()).every((c) => c.cmd === 'client|list'), 2000)
})

test('a duplicate its user closes is forgotten; one left open is closed with the app', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t)
  await app.register(fastifyRedis, { port: server.port })
  const first = app.redis.redis.duplicate()
  await first.connect()
  await first.set('k', 'v')
  const destroy = (first as unknown as { destroy?: () => void }).destroy
  if (typeof destroy === 'function') destroy.call(first)
  else await (first as unknown as { disconnect: () => Promise<void> }).disconnect()
  t.equal(first.isOpen, false)
  const second = app.redis.redis.duplicate()
  await second.connect()
  t.equal(await second.get('k'), 'v')
  await app.close()
  t.equal(second.isOpen, false)
})
