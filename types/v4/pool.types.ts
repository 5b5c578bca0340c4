// Compile-only tests of what node-redis 4 has instead of client pools: no
// RedisClientPool (it is never), executeIsolated(). Run by types/check.js when 4 is installed.
import Fastify from 'fastify'
import fastifyRedis, { type RedisClient, type RedisClientPool } from 'fastify-node-redis'

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    v4Isolated: RedisClient
  }
}

type IsNever<T> = [T] extends [never] ? true : false

export async function v4Pools (): Promise<string | null> {
  const app = Fastify()
  const none: IsNever<RedisClientPool> = true
  // @ts-expect-error node-redis 4 has no client pools: nothing is a RedisClientPool
  const pool: RedisClientPool = app.redis.v4Isolated
  use(none, pool)
  await app.register(fastifyRedis, { prefix: 'V4ISOLATED' })
  return await app.redis.v4Isolated.executeIsolated(async (client) => await client.get('k'))
}

function use (..._values: unknown[]): void {}
