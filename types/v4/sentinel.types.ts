// Compile-only tests of the Sentinel types with node-redis 4, which has no
// Sentinel client: the alias is `never` (registering one fails at startup).
import type { RedisSentinel } from 'fastify-node-redis'

export const isNever: [RedisSentinel] extends [never] ? true : false = true
// @ts-expect-error nothing is a RedisSentinel on node-redis 4
export const nothing: RedisSentinel = {}
