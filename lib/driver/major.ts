import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

let installed: string | undefined

/** The version of the node-redis the application installed (`redis/package.json`), read once. */
export function redisVersion (): string {
  installed ??= (JSON.parse(readFileSync(join(dirname(require.resolve('redis')), '..', 'package.json'), 'utf8')) as { version: string }).version
  return installed
}

/** Why the installed node-redis cannot serve `what` (which arrived in node-redis 5), or undefined when it can. */
export function needs5 (what: string, version = redisVersion()): string | undefined {
  return Number(version.split('.')[0]) >= 5 ? undefined : `${what} needs redis 5 or later; ${version} is installed`
}
