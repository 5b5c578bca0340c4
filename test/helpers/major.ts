import { readFileSync } from 'node:fs'
import { createClient } from 'redis'
import { dirname, join } from 'node:path'

/** The node-redis major the suite runs against (`bash .ci/with redis 6 npm test` for another). */
export const REDIS_MAJOR = Number((JSON.parse(readFileSync(join(dirname(require.resolve('redis')), '..', 'package.json'), 'utf8')) as { version: string }).version.split('.')[0])

/** `skip` for a test of node-redis 4's isolation pool, which 5 and later do not have. */
export const isolationPool = REDIS_MAJOR === 4 ? false : `node-redis ${REDIS_MAJOR} has no isolation pool (executeIsolated is node-redis 4's)`

/** `skip` for a test of what node-redis 5 and later have and 4 does not. */
export function since5 (what: string): false | string {
  return REDIS_MAJOR >= 5 ? false : `node-redis 4 has no ${what}`
}

/** node-redis 4's executeIsolated(), typed for a suite that also compiles against 5 and 6. */
export async function isolated<T> (client: unknown, fn: (isolated: any) => Promise<T>): Promise<T> {
  return await (client as { executeIsolated: (fn: (isolated: any) => Promise<T>) => Promise<T> }).executeIsolated(fn)
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only its type is used
const plain = () => createClient()
/** What `createClient(options)` gives on the installed major (on 5+, `ReturnType<typeof createClient>` is a wider type). */
export type PlainClient = ReturnType<typeof plain>

/** Client options for RESP2 replies on every major (6 defaults to RESP3; 4 has no such option and ignores it). */
export const RESP2: object = { RESP: 2 }
