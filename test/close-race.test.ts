import { test, type Test } from 'tap'
import Fastify from 'fastify'
import fastifyRedis from 'fastify-node-redis'
import { startRedis, type RedisServer } from './helpers/redis'
import { appWithLogs, eventually, sleep } from './helpers/app'
import { guardedLogger } from './helpers/secret-guard'

/** After a moment for a leaked socket to finish connecting: nothing of the client named `name` is open. */
async function nothingOpen (t: Test, server: RedisServer, name: string, client: { isOpen: boolean, isReady: boolean }): Promise<void> {
  await sleep(300)
  t.equal((await server.clients()).filter((c) => c.name === name).length, 0, 'the server lists no connection of the app')
  t.notOk(client.isOpen, 'the client is closed')
  t.notOk(client.isReady, 'and not ready again')
}

test('close the moment the watchdog reopens a stalled connection: nothing is left open', async (t) => {
  const server = await startRedis(t)
  let closing: Promise<unknown> | undefined
  // Closes from inside the log call, in the same tick as the reopen starts.
  const app = Fastify({
    logger: guardedLogger('debug', (line) => {
      if (closing === undefined && line.includes('(commandTimeout)')) closing = app.close()
    })
  })
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 200, closeTimeout: 200, clientOptions: { name: 'reopen-race' } })
  const client = app.redis.redis
  server.pause()
  await eventually(async () => closing !== undefined)
  await closing
  server.resume()
  await nothingOpen(t, server, 'reopen-race', client)
})

test('close the moment node-redis reconnects after CLIENT KILL: nothing is left open', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t, 'warn')
  await app.register(fastifyRedis, { port: server.port, clientOptions: { name: 'kill-race' } })
  const client = app.redis.redis
  let closing: Promise<unknown> | undefined
  client.on('reconnecting', () => { closing ??= app.close() })
  await server.command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  await eventually(async () => closing !== undefined)
  await closing
  await nothingOpen(t, server, 'kill-race', client)
})

test('an error after close, from the object that emits it, finds a listener', async (t) => {
  const server = await startRedis(t)
  const { app } = appWithLogs(t, 'warn')
  await app.register(fastifyRedis, { port: server.port })
  const client = app.redis.redis
  await app.close()
  // On 5 and later the client is an Object.create() wrapper of the emitter.
  const emitter = (client as unknown as { _self?: typeof client })._self ?? client
  t.doesNotThrow(() => emitter.emit('error', new Error('read ECONNRESET')))
  t.doesNotThrow(() => client.emit('error', new Error('read ECONNRESET')))
})

test('a watchdog tick that throws is logged, never thrown out of the timer', async (t) => {
  const server = await startRedis(t)
  const { app, logs } = appWithLogs(t, 'warn')
  await app.register(fastifyRedis, { port: server.port, commandTimeout: 100 })
  const client = app.redis.redis
  Object.defineProperty(client, 'isReady', { configurable: true, get () { throw new Error('isReady exploded') } })
  await eventually(async () => logs.some((l) => l.level === 40 && /watchdog: isReady exploded/.test(l.msg)))
  delete (client as { isReady?: boolean }).isReady
  t.equal(await client.ping(), 'PONG', 'the connection still works')
})
