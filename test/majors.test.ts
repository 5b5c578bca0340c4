import { test } from 'tap'
import fastifyRedis, { type FastifyNodeRedisOptions } from 'fastify-node-redis'
import { startRedis } from './helpers/redis'
import { eventually, testApp } from './helpers/app'
import { REDIS_MAJOR, since5 } from './helpers/major'

/** The protocol version a connection speaks, as the server sees it. */
async function respOf (client: { sendCommand: (args: string[]) => Promise<unknown> }): Promise<number> {
  return Number(/resp=(\d)/.exec(String(await client.sendCommand(['CLIENT', 'INFO'])))?.[1])
}

test('the reply protocol is the installed major\'s default: RESP3 on 6, RESP2 before', async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port })
  t.equal(await respOf(app.redis.redis), REDIS_MAJOR >= 6 ? 3 : 2)
})

test('clientOptions.RESP passes through', { skip: since5('RESP option') }, async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  const other = REDIS_MAJOR >= 6 ? 2 : 3
  // Not a literal: node-redis 4's options have no RESP, and this file compiles against it too.
  const clientOptions = { RESP: other } as FastifyNodeRedisOptions['clientOptions']
  await app.register(fastifyRedis, { port: server.port, clientOptions })
  t.equal(await respOf(app.redis.redis), other)
  await app.redis.redis.hSet('h', { a: '1' })
  t.same({ ...await app.redis.redis.hGetAll('h') }, { a: '1' })
})

test('commandTimeout also bounds a command waiting in the offline queue', { skip: since5('timeout for queued commands (commandOptions.timeout)') }, async (t) => {
  const server = await startRedis(t)
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 300, closeTimeout: 200, clientOptions: { disableOfflineQueue: false } })
  const client = app.redis.redis
  await server.kill()
  await eventually(async () => !client.isReady)
  const started = Date.now()
  // node-redis's TimeoutError, which has no message.
  const err = await client.get('k').then(() => undefined, (e: Error) => e)
  t.equal(err?.constructor.name, 'TimeoutError')
  const took = Date.now() - started
  t.ok(took >= 250 && took < 300 + 400, `rejected after ${took} ms (commandTimeout 300 ms)`)
})
