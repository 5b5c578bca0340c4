import { isIPv6 } from 'node:net'

/** What a connection URL says; absent parts are undefined. */
export interface ParsedUrl {
  tls: boolean
  host?: string
  port?: number
  socketPath?: string
  db?: number
  username?: string
  password?: string
}

// redis[s]://[[user][:pass]@][host][:port][/db][/...][?db=N]
const REDIS_URL = /^(rediss?):\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?(\[[^\]/?#]*\]|[^:/?#[\]]*)(?::([^/?#]*))?(\/[^?#]*)?(?:\?([^#]*))?$/i
// unix://[[user][:pass]@]/path/to.sock[?db=N]
const UNIX_URL = /^unix:\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?(\/[^?#]*)(?:\?([^#]*))?$/i
const SCHEME = /^([a-z][a-z0-9+.-]*):/i

/**
 * Mask what may be a password in anything that looks like a URL: everything
 * from the user name's colon to the last "@" (a password with an unencoded
 * "@", "/", "?" or "#" included), and the value of every query parameter but
 * db (`?password=…`).
 */
export function redactUrl (url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*:).*@/is, '$1***@')
    .replace(/([?&][^=&#]*=)[^&#]*/g, (param, key: string) => /^[?&]db=$/i.test(key) ? param : `${key}***`)
}

export class UrlError extends Error {}

function decode (part: string | undefined, what: string): string | undefined {
  if (part === undefined || part === '') return undefined
  try {
    return decodeURIComponent(part)
  } catch {
    throw new UrlError(`its ${what} is not valid percent-encoding`)
  }
}

function integer (text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UrlError(`its ${what} ${JSON.stringify(text)} is not an integer`)
  const n = Number(text)
  if (n < min || n > max) throw new UrlError(`its ${what} ${n} is out of range (${min}-${max})`)
  return n
}

// The query parameters of redis-py / ioredis URLs, and what to use here instead.
const INSTEAD: Readonly<Record<string, string>> = {
  client_name: 'option clientOptions.name',
  name: 'option clientOptions.name',
  socket_timeout: 'option commandTimeout (a stalled command) or clientOptions.socket (socket settings)',
  socket_connect_timeout: 'option connectTimeout',
  timeout: 'option connectTimeout, commandTimeout or closeTimeout',
  password: 'the URL\'s user info (redis://user:password@host) or option password',
  username: 'the URL\'s user info (redis://user:password@host) or option username',
  ssl: 'a rediss:// URL, or option tls',
  tls: 'a rediss:// URL, or option tls',
  ssl_cert_reqs: 'option tls (Node TLS options: rejectUnauthorized, ca…)',
  ssl_ca_certs: 'option tls (Node TLS options: ca)',
  health_check_interval: 'option clientOptions.pingInterval',
  protocol: 'option clientOptions.RESP (node-redis 5+)',
  family: 'option clientOptions.socket.family'
}

function parseQuery (query: string | undefined): number | undefined {
  let db: number | undefined
  if (!query) return db
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const key = eq === -1 ? pair : pair.slice(0, eq)
    const value = eq === -1 ? '' : pair.slice(eq + 1)
    if (key !== 'db') {
      const instead = Object.hasOwn(INSTEAD, key) ? INSTEAD[key] : 'the plugin\'s options or clientOptions'
      throw new UrlError(`its query parameter ${JSON.stringify(key)} is not supported (the only one is db): use ${instead}`)
    }
    db = integer(value, 'db', 0, Number.MAX_SAFE_INTEGER)
  }
  return db
}

/**
 * Parse the URL forms node-redis does not: unix sockets, ?db=N, trailing
 * slashes, bracketed IPv6 hosts. Throws UrlError with a message that never
 * contains the password.
 */
export function parseRedisUrl (url: string): ParsedUrl {
  // Credentials with an unencoded "@", "/", "?" or "#" would be read as host,
  // path or query, and quoted as such in messages.
  const start = url.indexOf('://') + 3
  const at = url.lastIndexOf('@')
  if (start > 2 && at > start && url[start] !== '/' && /[@/?#]/.test(url.slice(start, at))) {
    throw new UrlError('its user name or password has an "@", "/", "?" or "#" that is not percent-encoded (encodeURIComponent)')
  }
  const unix = UNIX_URL.exec(url)
  if (unix) {
    return {
      tls: false,
      username: decode(unix[1], 'username'),
      password: decode(unix[2], 'password'),
      socketPath: decode(unix[3], 'socket path'),
      db: parseQuery(unix[4])
    }
  }
  const m = REDIS_URL.exec(url)
  if (!m) {
    const scheme = SCHEME.exec(url)?.[1]
    if (scheme && !/^(rediss?|unix)$/i.test(scheme)) {
      throw new UrlError(`its scheme "${scheme}:" is not supported (use redis:, rediss: or unix:)`)
    }
    throw new UrlError('it is not of the form redis://[[user]:pass@]host[:port][/db], rediss://… or unix://[[user]:pass@]/path[?db=N]')
  }
  const [, scheme, user, pass, rawHost, rawPort, path, query] = m
  let host: string | undefined = rawHost
  if (host.startsWith('[')) {
    host = host.slice(1, -1)
    if (!isIPv6(host)) throw new UrlError(`its host [${host}] is not an IPv6 address`)
  }
  const pathDb = /^\/(\d*)\/*$/.exec(path ?? '/')
  if (!pathDb) throw new UrlError(`its path ${JSON.stringify(path)} is not a database number`)
  const dbFromPath = pathDb[1] === '' ? undefined : integer(pathDb[1], 'db', 0, Number.MAX_SAFE_INTEGER)
  const dbFromQuery = parseQuery(query)
  if (dbFromPath !== undefined && dbFromQuery !== undefined && dbFromPath !== dbFromQuery) {
    throw new UrlError(`it names two databases (/${dbFromPath} and ?db=${dbFromQuery}): give the database once, in the path or as ?db=`)
  }
  return {
    tls: scheme.toLowerCase() === 'rediss',
    host: host === '' ? undefined : decode(host, 'host'),
    port: rawPort === undefined || rawPort === '' ? undefined : integer(rawPort, 'port', 1, 65535),
    db: dbFromPath ?? dbFromQuery,
    username: decode(user, 'username'),
    password: decode(pass, 'password')
  }
}
