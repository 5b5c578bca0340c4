// Compile-only tests of what node-redis 5 and 6 have: scripts defined with
// parseCommand, the RESP option. Run by types/check.js when 5 or 6 is installed.
import Fastify from 'fastify'
import { defineScript, type CommandParser } from 'redis'
import fastifyRedis, { type RedisClient } from 'fastify-node-redis'

export const scripts = {
  bump: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: 'return redis.call("INCRBY", KEYS[1], ARGV[1])',
    parseCommand (parser: CommandParser, key: string, by: number) {
      parser.pushKey(key)
      parser.push(by.toString())
    },
    transformReply (reply: number) { return reply }
  })
}

declare module 'fastify-node-redis' {
  interface FastifyRedisConnections {
    v5Scripted: RedisClient<{}, {}, typeof scripts>
  }
}

export async function v5 (): Promise<number> {
  const app = Fastify()
  await app.register(fastifyRedis, { prefix: 'V5SCRIPTED', clientOptions: { scripts, RESP: 3 } })
  const bumped: number = await app.redis.v5Scripted.bump('k', 2)
  // @ts-expect-error node-redis 5 and 6 have no isolation pool
  use(app.redis.v5Scripted.executeIsolated)
  // @ts-expect-error RESP is 2 or 3
  await app.register(fastifyRedis, { clientOptions: { RESP: 4 } })
  return bumped
}

function use (..._values: unknown[]): void {}
