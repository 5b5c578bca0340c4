import createError from '@fastify/error'

type Args = [message: string, options?: { cause: unknown }]

/**
 * Every error the plugin raises for something a user can cause carries one of
 * these stable codes. Messages name the plugin, the connection and the
 * offending key; secrets are redacted before they reach a message.
 */
export const FST_REDIS_CONFIG = createError<'FST_REDIS_CONFIG', Args>(
  'FST_REDIS_CONFIG', 'fastify-node-redis: %s')
export const FST_REDIS_DUPLICATE = createError<'FST_REDIS_DUPLICATE', Args>(
  'FST_REDIS_DUPLICATE', 'fastify-node-redis: %s')
export const FST_REDIS_CLIENT_CLASS = createError<'FST_REDIS_CLIENT_CLASS', Args>(
  'FST_REDIS_CLIENT_CLASS', 'fastify-node-redis: %s')
export const FST_REDIS_CONNECT = createError<'FST_REDIS_CONNECT', Args>(
  'FST_REDIS_CONNECT', 'fastify-node-redis: %s')

export const errorCodes = {
  FST_REDIS_CONFIG,
  FST_REDIS_DUPLICATE,
  FST_REDIS_CLIENT_CLASS,
  FST_REDIS_CONNECT
} as const

/** Quote a user value for a message: strings in quotes, the rest as JSON-ish. */
export function show (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'})`
  if (value === null || typeof value !== 'object') return String(value)
  if (Array.isArray(value)) return 'an array'
  return 'an object'
}
