import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { FST_REDIS_CONFIG, show } from './errors'
import { CONFIG_KEYS } from './keys'
import type { FastifyNodeRedisOptions } from './options'
import { parseRedisUrl, redactUrl, UrlError, type ParsedUrl } from './url'

export type Keyed = keyof typeof CONFIG_KEYS
export type Found = { value: unknown, where: string }

const SECRET: ReadonlySet<Keyed> = new Set(['password', 'sentinelPassword'])
// Options that say where to connect: they may not also arrive through clientOptions.
export const RESERVED_CLIENT_OPTIONS = ['url', 'database', 'username', 'password'] as const
export const RESERVED_SOCKET_OPTIONS = ['host', 'port', 'path', 'tls'] as const
/** Why a socket `signal` of the user's is refused: close aborts the sockets through the plugin's own. */
export const SOCKET_SIGNAL = 'is not accepted: the plugin gives every socket it opens an abort signal of its own, which app.close() fires'
export const BOOLEANS = 'true or false (in config also "true"/"false", "1"/"0" or "yes"/"no", in any case, or the numbers 1/0)'

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Reads one field: the explicit option wins over the config key. */
export class Source {
  /** The prefix of the config keys: always upper-case. */
  readonly keyPrefix: string

  constructor (
    readonly name: string,
    prefix: string,
    readonly options: FastifyNodeRedisOptions,
    readonly config: Record<string, unknown> | undefined
  ) {
    this.keyPrefix = prefix.toUpperCase()
  }

  key (option: Keyed): string {
    return `${this.keyPrefix}_${CONFIG_KEYS[option]}`
  }

  get (option: Keyed): Found | undefined {
    const explicit = (this.options as Record<string, unknown>)[option]
    if (explicit !== undefined) return { value: explicit, where: `option "${option}"` }
    const key = this.key(option)
    const value = this.config?.[key]
    // An environment variable set to the empty string means "not set".
    if (value === undefined || value === null || value === '') return undefined
    return { value, where: `config key ${key}` }
  }

  fail (where: string, problem: string): never {
    throw new FST_REDIS_CONFIG(`connection "${this.name}": ${where} ${problem}`)
  }

  bad (option: Keyed, found: Found, expected: string): never {
    const shown = SECRET.has(option) ? '(value hidden)' : show(found.value)
    return this.fail(found.where, `must be ${expected}, got ${shown}`)
  }

  string (option: Keyed): string | undefined {
    const found = this.get(option)
    if (found === undefined) return undefined
    if (typeof found.value !== 'string' || found.value === '') this.bad(option, found, 'a non-empty string')
    return found.value as string
  }

  integer (option: Keyed, min: number, max: number): number | undefined {
    const found = this.get(option)
    return found === undefined ? undefined : this.integerOf(found, min, max)
  }

  /** A number, or a string of digits, from `min` to `max`; `where` in the message otherwise. */
  integerOf (found: Found, min: number, max: number): number {
    const { value } = found
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
      this.fail(found.where, `must be ${max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`}, got ${show(value)}`)
    }
    return n as number
  }

  boolean (option: Keyed): boolean | undefined {
    const found = this.get(option)
    if (found === undefined) return undefined
    const { value } = found
    if (typeof value === 'boolean') return value
    if (value === 1 || (typeof value === 'string' && /^(true|1|yes)$/i.test(value))) return true
    if (value === 0 || (typeof value === 'string' && /^(false|0|no)$/i.test(value))) return false
    return this.bad(option, found, `a boolean: ${BOOLEANS}`)
  }

  /** A list of URLs: an array, or one comma-separated string. */
  urls (found: Found, what: string): string[] {
    const list = typeof found.value === 'string' ? found.value.split(',').map((u) => u.trim()).filter(Boolean) : found.value
    if (!Array.isArray(list) || list.length === 0 || !list.every((u) => typeof u === 'string' && u !== '')) {
      this.fail(found.where, `must be a list of ${what} URLs (an array, or one comma-separated string), got ${show(found.value)}`)
    }
    return list as string[]
  }

  url (url: string, where: string): ParsedUrl {
    try {
      return parseRedisUrl(url)
    } catch (err) {
      /* c8 ignore next -- parseRedisUrl throws nothing but UrlError */
      if (!(err instanceof UrlError)) throw err
      return this.fail(where, `${redactUrl(url)} is not a valid Redis URL: ${err.message}`)
    }
  }
}

/**
 * A copy of the node-redis client options given at option `path`
 * (`clusterOptions.defaults`, `sentinelOptions.nodeClientOptions`…), with
 * where to connect and the credentials refused: they are the plugin's.
 */
export function nodeOptionsOf (source: Source, path: string, given: unknown, socketInstead: string): Record<string, unknown> {
  if (!isPlainObject(given)) return source.fail(`option "${path}"`, `must be an object, got ${show(given)}`)
  for (const key of RESERVED_CLIENT_OPTIONS) {
    if (given[key] !== undefined) source.fail(`option "${path}.${key}"`, 'is not accepted: set the plugin\'s own options (or their config keys) instead')
  }
  const socket = given.socket
  if (socket !== undefined && !isPlainObject(socket)) source.fail(`option "${path}.socket"`, `must be an object, got ${show(socket)}`)
  for (const key of RESERVED_SOCKET_OPTIONS) {
    if ((socket as Record<string, unknown> | undefined)?.[key] !== undefined) source.fail(`option "${path}.socket.${key}"`, `is not accepted: ${socketInstead}`)
  }
  if ((socket as Record<string, unknown> | undefined)?.signal !== undefined) source.fail(`option "${path}.socket.signal"`, SOCKET_SIGNAL)
  return { ...given, ...(socket !== undefined && { socket: { ...socket } }) }
}

/**
 * What every URL of a list (cluster nodes, sentinels) must agree on: the
 * scheme, and the credentials of those that carry some.
 */
export function agreed (source: Source, where: string, urls: ParsedUrl[], what: string, instead: string): { tls: boolean, username?: string, password?: string } {
  let credentials: string | undefined
  let username: string | undefined
  let password: string | undefined
  for (const parsed of urls) {
    if (parsed.tls !== urls[0].tls) source.fail(where, `mixes redis:// and rediss:// ${what}: use one scheme for all`)
    if (parsed.username === undefined && parsed.password === undefined) continue
    const these = `${parsed.username ?? ''}\0${parsed.password ?? ''}`
    if (credentials !== undefined && credentials !== these) source.fail(where, `gives different credentials for different ${what}: ${instead}`)
    credentials = these
    username = parsed.username
    password = parsed.password
  }
  return { tls: urls[0].tls, username, password }
}

/** How a connection's target is shown in messages and logs: the password masked. */
export function describe (spec: { tls: false | TlsOptions, host?: string, port?: number, socketPath?: string, db: number, username?: string, password?: string }): string {
  const auth = authOf(spec.username, spec.password)
  if (spec.socketPath !== undefined) return `unix://${auth}${spec.socketPath}?db=${spec.db}`
  return `${spec.tls ? 'rediss' : 'redis'}://${auth}${hostPort(spec.host!, spec.port!)}/${spec.db}`
}

export function authOf (username: string | undefined, password: string | undefined): string {
  if (password !== undefined) return `${encodeURIComponent(username ?? '')}:***@`
  return username !== undefined ? `${encodeURIComponent(username)}@` : ''
}

export function hostPort (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}
