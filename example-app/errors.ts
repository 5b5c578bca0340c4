import createError from '@fastify/error'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  SocketClosedUnexpectedlyError
} from 'redis'

// Errors the routes raise on purpose. Fastify's default error handler turns
// them into its usual JSON shape: { statusCode, code, error, message }.
export const BadPath = createError<'EXAMPLE_BAD_PATH', 400, [string]>('EXAMPLE_BAD_PATH', '%s', 400)
export const ReservedField = createError<'EXAMPLE_RESERVED_FIELD', 400, []>('EXAMPLE_RESERVED_FIELD',
  'field "ttl" is reserved: answers add the remaining time to live under that name', 400)
export const NoFeed = createError<'EXAMPLE_NO_FEED', 501, []>('EXAMPLE_NO_FEED',
  'the live feed needs a single Redis or a Redis Cluster: with Sentinel (REDIS_SENTINEL_NODES) it is off, set EVENTS_URL to the master to turn it on', 501)
export const ThingNotFound = createError<'EXAMPLE_NOT_FOUND', 404, [string]>('EXAMPLE_NOT_FOUND', 'no thing is stored at %s', 404)
export const BadCredentials = createError<'EXAMPLE_BAD_CREDENTIALS', 401, []>('EXAMPLE_BAD_CREDENTIALS', 'wrong username or password', 401)
export const NotLoggedIn = createError<'EXAMPLE_NOT_LOGGED_IN', 401, []>('EXAMPLE_NOT_LOGGED_IN', 'not logged in: POST /login first', 401)
export const HttpsRequired = createError<'EXAMPLE_HTTPS_REQUIRED', 403, []>('EXAMPLE_HTTPS_REQUIRED',
  'session cookies are Secure (COOKIE_SECURE=true) and this request is plain HTTP: use HTTPS, ' +
  'set TRUST_PROXY=true behind a proxy that terminates TLS, or leave COOKIE_SECURE unset (auto) for local development', 403)
export const CartFull = createError<'EXAMPLE_CART_LIMIT', 400, [string]>('EXAMPLE_CART_LIMIT', '%s', 400)
export const NotInCart = createError<'EXAMPLE_NOT_IN_CART', 404, [string]>('EXAMPLE_NOT_IN_CART', 'item %s is not in the cart', 404)

/** A Redis command got no answer in time (server paused, network black hole). */
export class RedisTimeoutError extends Error {
  readonly code = 'EXAMPLE_REDIS_TIMEOUT'
}

/** Resolves with the promise, or rejects with RedisTimeoutError after `ms`. */
export async function within<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    // The error (and its stack trace) is made only if the time runs out: this runs on every request.
    timer = setTimeout(() => reject(new RedisTimeoutError(`Redis did not answer within ${ms} ms`)), ms)
  })
  try {
    // race() keeps a handler on `promise`: its late rejection is not unhandled.
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

// What node-redis raises while the server cannot be reached: the plugin sets
// `disableOfflineQueue`, so commands fail at once instead of waiting.
const UNAVAILABLE = [ClientOfflineError, ClientClosedError, SocketClosedUnexpectedlyError,
  DisconnectsClientError, ConnectionTimeoutError, RedisTimeoutError]
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])

/**
 * Replies of a server that is there but cannot serve the command right now:
 * a cluster without a master for the slot, a node still loading its data,
 * a master demoted to replica by a failover (READONLY), and EXECABORT, which
 * is what a MULTI gets when the server refused one of its commands for such
 * a reason (the app's transactions are fixed, well-formed commands, so here
 * it means a failover or a full server, not a bug). OOM: the server is out
 * of memory for writes. MOVED and ASK: a cluster's slot moved and the
 * client did not follow (node-redis 5 hands a MULTI's MOVED to the caller
 * after a failover; the plugin has the topology rediscovered, so a retry
 * goes to the new master).
 */
const TRANSIENT_REPLY = /^(?:CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|EXECABORT|OOM|MOVED|ASK)\b/

/** Whether an error means "Redis cannot serve this right now": a 503, not a 500. */
export function isRedisUnavailable (err: Error): boolean {
  return UNAVAILABLE.some((type) => err instanceof type) || NETWORK.has((err as { code?: string }).code ?? '') ||
    TRANSIENT_REPLY.test(err.message)
}

/**
 * An outage is over once no request has failed for this long: the next
 * failure after such a quiet spell is logged as a new outage.
 */
export const OUTAGE_QUIET_MS = 10_000

/**
 * The app's error handler. Redis down is a 503 with `Retry-After`, answered
 * at once, and one warning per outage (the plugin logs the connection's own
 * loss and return); the requests that fail during the outage are logged at
 * debug level, so a long outage does not flood the log. Every other error
 * goes on to Fastify's default handler (throwing here hands it over).
 */
export function errorHandler (): (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  let lastFailure = -Infinity
  return function redisUnavailable (err, request, reply) {
    if (!isRedisUnavailable(err)) throw err
    const now = performance.now()
    if (now - lastFailure > OUTAGE_QUIET_MS) {
      request.log.warn(`redis unavailable: ${err.message}; answering 503 until it is back (each failed request is logged at debug level)`)
    } else {
      request.log.debug(`redis unavailable: ${err.message}`)
    }
    lastFailure = now
    return reply.code(503).header('retry-after', '1').send({
      statusCode: 503,
      code: 'EXAMPLE_REDIS_UNAVAILABLE',
      error: 'Service Unavailable',
      message: 'Redis is unavailable, try again shortly'
    })
  }
}
