import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fastifyRedis, { type RedisClient } from 'fastify-node-redis'
import { BadPath, NoFeed, ReservedField, ThingNotFound, within } from './errors'
import { channelOf, createFeed, type Feed } from './feed'

const EVENTS = '/events'

/** Things live under this key prefix, apart from everything else in Redis. */
export const THING_PREFIX = 'thing:'
export const MAX_PATH = 512
export const MAX_FIELDS = 1000
/** Largest PUT body, in bytes (413 beyond). */
export const BODY_LIMIT = 256 * 1024

export interface ThingsOptions {
  client: RedisClient
  /** The config keys of the live feed's subscriber connection (prefix EVENTS); none: no feed. */
  events?: Record<string, unknown>
  /** Seconds a thing lives after its PUT. */
  ttl: number
  /** Milliseconds a Redis round trip may take. */
  timeout: number
}

type Params = { '*': string }

function pathOf (request: FastifyRequest): string {
  return (request.params as Params)['*']
}

// A hook in the callback style: no promise per request on the hot path.
function checkPath (request: FastifyRequest, _reply: unknown, done: (err?: Error) => void): void {
  const path = pathOf(request)
  if (path === '') return done(new BadPath('the path after /things/ is empty'))
  if (path.length > MAX_PATH) return done(new BadPath(`the path after /things/ has ${path.length} characters, more than ${MAX_PATH}`))
  done()
}

// Every value is stored as JSON, so numbers, booleans, null, objects and
// arrays come back as they went in (a Redis hash holds only strings). A value
// written by something else than this app comes back as the raw string.
function decode (value: string): unknown {
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

/**
 * A prototype store, as in "Prototyping fun with Flask and Redis": any JSON
 * object at any path, kept as a Redis hash with a time to live.
 */
export const things: FastifyPluginAsync<ThingsOptions> = async function things (app, { client, events, ttl, timeout }) {
  let feed: Feed | undefined
  if (events !== undefined) {
    // This context's own connection: the feed's, closed with it.
    await app.register(fastifyRedis, { prefix: 'EVENTS', subscriber: true, config: events })
    const live = feed = createFeed(app.redis.events, timeout)
    app.addHook('preClose', (done) => { live.end(); done() })
  }

  app.get('/things/*', { onRequest: checkPath }, async function (request, reply) {
    const path = pathOf(request)
    // The live feed of a path: a thing whose own path ends in /events can be stored, but is read only by the feed.
    if (path.endsWith(EVENTS) && path.length > EVENTS.length) {
      if (feed === undefined) throw new NoFeed()
      return await feed.stream(path.slice(0, -EVENTS.length), reply)
    }
    const key = THING_PREFIX + path
    // A read needs no MULTI: node-redis writes both commands in one pipeline,
    // and Redis answers them in order. One deadline bounds the request.
    const [fields, remaining] = await within(Promise.all([client.hGetAll(key), client.ttl(key)]), timeout)
    // -2: no such key (it may have expired between the two commands).
    if (remaining === -2) throw new ThingNotFound(JSON.stringify(path))
    // No prototype: a field named "__proto__" (written by something else
    // than this app) stays a field.
    const thing: Record<string, unknown> = Object.create(null)
    for (const name in fields) thing[name] = decode(fields[name])
    // -1: the key has no expiry (written by something else than this app).
    thing.ttl = remaining < 0 ? null : remaining
    return thing
  })

  app.put('/things/*', {
    onRequest: checkPath,
    bodyLimit: BODY_LIMIT,
    schema: { body: { type: 'object', minProperties: 1, maxProperties: MAX_FIELDS } }
  }, async function (request, reply) {
    const path = pathOf(request)
    const key = THING_PREFIX + path
    const body = request.body as Record<string, unknown>
    if (Object.hasOwn(body, 'ttl')) throw new ReservedField()
    const fields: Record<string, string> = {}
    for (const [name, value] of Object.entries(body)) fields[name] = JSON.stringify(value)
    // One MULTI: readers see the old thing or the new one, never a mix, and
    // never a thing without its expiry.
    // While Redis is down a MULTI fails at once like any command: the plugin
    // makes node-redis v4 honour disableOfflineQueue for transactions too.
    // The feed's event is published in the same MULTI: sent if and only if the thing was stored.
    const thing = { ...body, ttl }
    await within(client.multi().del(key).hSet(key, fields).expire(key, ttl).publish(channelOf(path), JSON.stringify(thing)).exec(), timeout)
    return reply.code(201).send(thing)
  })
}
