import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { RedisClient } from 'fastify-node-redis'
import { MultiErrorReply } from 'redis'
import { BadPath, ReservedField, ThingNotFound, within } from './errors'

/** Things live under this key prefix, apart from everything else in Redis. */
export const THING_PREFIX = 'thing:'
export const MAX_PATH = 512
export const MAX_FIELDS = 1000
/** Largest PUT body, in bytes (413 beyond). */
export const BODY_LIMIT = 256 * 1024

export interface ThingsOptions {
  client: RedisClient
  /** Seconds a thing lives after its PUT. */
  ttl: number
  /** Milliseconds a Redis round trip may take. */
  timeout: number
}

type Params = { '*': string }

function pathOf (request: FastifyRequest): string {
  return (request.params as Params)['*']
}

async function checkPath (request: FastifyRequest): Promise<void> {
  const path = pathOf(request)
  if (path === '') throw new BadPath('the path after /things/ is empty')
  if (path.length > MAX_PATH) throw new BadPath(`the path after /things/ has ${path.length} characters, more than ${MAX_PATH}`)
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
export const things: FastifyPluginAsync<ThingsOptions> = async function things (app, { client, ttl, timeout }) {
  // While Redis is down a MULTI fails at once like any command: the plugin
  // makes node-redis v4 honour disableOfflineQueue for transactions too.
  async function exec (multi: { exec (): Promise<unknown[]> }): Promise<unknown[]> {
    try {
      return await within(multi.exec(), timeout)
    } catch (err) {
      // "1 commands failed, see .replies": say which error instead.
      throw err instanceof MultiErrorReply ? [...err.errors()][0] : err
    }
  }

  app.get('/things/*', { onRequest: checkPath }, async function (request) {
    const path = pathOf(request)
    const key = THING_PREFIX + path
    const [fields, remaining] = await exec(client.multi().hGetAll(key).ttl(key)) as [Record<string, string>, number]
    const names = Object.keys(fields)
    if (names.length === 0) throw new ThingNotFound(JSON.stringify(path))
    // fromEntries, not assignment: a field named "__proto__" stays a field.
    const thing = Object.fromEntries(names.map((name) => [name, decode(fields[name])]))
    // -1: the key has no expiry (written by something else than this app).
    return { ...thing, ttl: remaining < 0 ? null : remaining }
  })

  app.put('/things/*', {
    onRequest: checkPath,
    bodyLimit: BODY_LIMIT,
    schema: { body: { type: 'object', minProperties: 1, maxProperties: MAX_FIELDS } }
  }, async function (request, reply) {
    const key = THING_PREFIX + pathOf(request)
    const body = request.body as Record<string, unknown>
    if (Object.hasOwn(body, 'ttl')) throw new ReservedField()
    const fields: Record<string, string> = {}
    for (const [name, value] of Object.entries(body)) fields[name] = JSON.stringify(value)
    // One MULTI: readers see the old thing or the new one, never a mix, and
    // never a thing without its expiry.
    await exec(client.multi().del(key).hSet(key, fields).expire(key, ttl))
    return reply.code(201).send({ ...body, ttl })
  })
}
