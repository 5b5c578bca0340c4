import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyRedis, { type RedisClient } from 'fastify-node-redis'
import { createClient } from 'redis'
import { EXAMPLE_APP, EXAMPLE_PATH, EXAMPLE_THING, exampleConfig, THING, TTL, type SetupId } from './common'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    /** The benchmark's connection (prefix BENCH). */
    bench: RedisClient
  }
}

type Fields = Record<string, string>
interface ThingRoute { Params: { path: string } }
interface PutRoute extends ThingRoute { Body: Fields }

/** The same answer every setup gives for a missing thing. */
const NOT_FOUND = { statusCode: 404, error: 'Not Found', message: 'no such thing' }

/**
 * Builds the app of one setup, not listening yet; a string says why the
 * setup cannot run here. Each setup serves the same two routes, written the
 * way a user of that setup would write them:
 * - `GET /things/:path`: HGETALL + TTL of `thing:<path>`, 404 when missing;
 * - `PUT /things/:path`: MULTI DEL + HSET + EXPIRE, 201 with the fields and ttl.
 */
export async function buildSetup (id: SetupId, url: string): Promise<FastifyInstance | string> {
  switch (id) {
    case 'ceiling': return ceiling()
    case 'hand': return await handWired(url)
    case 'plugin': return await plugin(url)
    case 'metrics': return await plugin(url, true)
    case 'ioredis': return await ioredis(url)
    case 'example': return await example(url)
  }
}

/** (a) No Redis at all: what Fastify serves on this machine, the ceiling. */
function ceiling (): FastifyInstance {
  const app = Fastify()
  app.get<ThingRoute>('/things/:path', async () => ({ ...THING, ttl: TTL }))
  return app
}

/** (b) What a user writes without a plugin: one client in a closure, connected before listen. */
async function handWired (url: string): Promise<FastifyInstance> {
  const app = Fastify()
  const client = createClient({ url })
  client.on('error', (err) => app.log.error(err))
  await client.connect()
  app.addHook('onClose', async () => { await client.quit() })

  app.get<ThingRoute>('/things/:path', async (request, reply) => {
    const key = `thing:${request.params.path}`
    const [fields, ttl] = await Promise.all([client.hGetAll(key), client.ttl(key)])
    if (ttl === -2) return await reply.code(404).send(NOT_FOUND)
    return { ...fields, ttl }
  })
  app.put<PutRoute>('/things/:path', async (request, reply) => {
    const key = `thing:${request.params.path}`
    await client.multi().del(key).hSet(key, request.body).expire(key, TTL).exec()
    return await reply.code(201).send({ ...request.body, ttl: TTL })
  })
  return app
}

/**
 * (c) This plugin: the connection is read from `this.redis.bench` on every
 * request. (c') The same with `metrics: true`: what counting costs.
 */
async function plugin (url: string, metrics = false): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyRedis, { prefix: 'BENCH', url, metrics })

  app.get<ThingRoute>('/things/:path', async function (request, reply) {
    const key = `thing:${request.params.path}`
    const redis = this.redis.bench
    const [fields, ttl] = await Promise.all([redis.hGetAll(key), redis.ttl(key)])
    if (ttl === -2) return await reply.code(404).send(NOT_FOUND)
    return { ...fields, ttl }
  })
  app.put<PutRoute>('/things/:path', async function (request, reply) {
    const key = `thing:${request.params.path}`
    await this.redis.bench.multi().del(key).hSet(key, request.body).expire(key, TTL).exec()
    return await reply.code(201).send({ ...request.body, ttl: TTL })
  })
  return app
}

/** The part of an ioredis client the routes use. */
interface IoRedis {
  hgetall (key: string): Promise<Fields>
  ttl (key: string): Promise<number>
  multi (): IoMulti
}
interface IoMulti {
  del (key: string): IoMulti
  hset (key: string, fields: Fields): IoMulti
  expire (key: string, seconds: number): IoMulti
  exec (): Promise<unknown>
}

/**
 * Loads a module without letting TypeScript see it: @fastify/redis augments
 * `FastifyInstance.redis` with its own type, which would clash with ours in
 * this project's type check. At run time it is an ordinary import.
 */
async function importUntyped (specifier: string): Promise<Record<string, any>> {
  return await import(specifier)
}

/** (d) @fastify/redis 9 with ioredis, its defaults, as its README shows. */
async function ioredis (url: string): Promise<FastifyInstance> {
  const mod = await importUntyped('@fastify/redis')
  const fastifyIoRedis = mod.default ?? mod
  const app = Fastify()
  await app.register(fastifyIoRedis, { url })

  app.get<ThingRoute>('/things/:path', async function (request, reply) {
    const key = `thing:${request.params.path}`
    const redis = (this as unknown as { redis: IoRedis }).redis
    const [fields, ttl] = await Promise.all([redis.hgetall(key), redis.ttl(key)])
    if (ttl === -2) return await reply.code(404).send(NOT_FOUND)
    return { ...fields, ttl }
  })
  app.put<PutRoute>('/things/:path', async function (request, reply) {
    const key = `thing:${request.params.path}`
    const redis = (this as unknown as { redis: IoRedis }).redis
    await redis.multi().del(key).hset(key, request.body).expire(key, TTL).exec()
    return await reply.code(201).send({ ...request.body, ttl: TTL })
  })
  return app
}

/** (e) The example app as it ships, serving `GET /things/<path>` from a thing it stored itself. */
async function example (url: string): Promise<FastifyInstance | string> {
  if (!existsSync(EXAMPLE_APP)) return 'example-app/app.ts does not exist yet'
  const mod = await importUntyped(pathToFileURL(EXAMPLE_APP).href)
  const build = mod.build ?? mod.default?.build
  if (typeof build !== 'function') return 'example-app/app.ts exports no build() function'
  const app = await build({ config: exampleConfig(url), env: false, logger: false }) as FastifyInstance
  const stored = await app.inject({ method: 'PUT', url: EXAMPLE_PATH, payload: EXAMPLE_THING })
  if (stored.statusCode >= 300) {
    await app.close()
    throw new Error(`the example app refused PUT ${EXAMPLE_PATH}: ${stored.statusCode} ${stored.body}`)
  }
  return app
}
