// Compile-only tests of what node-redis 4 alone has: scripts defined with
// transformArguments, and executeIsolated(). Run by types/check.js when 4 is installed.
import Fastify from 'fastify'
import { defineScript } from 'redis'
import fastifyRedis, { type RedisClient } from 'fastify-node-redis'

const scripts = {
  bump: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: 'return redis.call("INCRBY", KEYS[1], ARGV[1])',
    transformArguments (key: string, by: number) { return [key, by.toString()] },
    transformReply (reply: number) { return reply }
  })
}

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    v4Scripted: RedisClient<{}, {}, typeof scripts>
  }
}

export async function v4 (): Promise<number> {
  const app = Fastify()
  await app.register(fastifyRedis, { prefix: 'V4SCRIPTED', clientOptions: { scripts, isolationPoolOptions: { max: 4 } } })
  const bumped: number = await app.redis.v4Scripted.bump('k', 2)
  const isolated: string | null = await app.redis.v4Scripted.executeIsolated(async (client) => await client.get('k'))
  // @ts-expect-error node-redis 4 has no RESP option
  await app.register(fastifyRedis, { clientOptions: { RESP: 3 } })
  return bumped + (isolated === null ? 0 : 1)
}
