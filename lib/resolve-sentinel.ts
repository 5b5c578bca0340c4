import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { needs5 } from './driver/major'
import { show } from './errors'
import type { ConnectionSpec, FastifyRedisSentinelOptions } from './options'
import { agreed, authOf, hostPort, isPlainObject, nodeOptionsOf, type Found, type Source } from './source'
import { redactUrl } from './url'

/** The port of a sentinel URL without one. */
export const SENTINEL_PORT = 26379

/** What the data nodes take from the connection's usual options and keys. */
interface DataNodes { tls: false | TlsOptions | undefined, db: number, username?: string, password?: string }

type Where = Pick<ConnectionSpec, 'target' | 'tls' | 'username' | 'password'> & { sentinel: NonNullable<ConnectionSpec['sentinel']> }

/** Options of createSentinel that the plugin sets itself, and what to use instead. */
const RESERVED: Readonly<Record<string, string>> = {
  name: 'give the master group name with option "sentinelName" (or its config key)',
  sentinelRootNodes: 'give the sentinels with option "sentinelNodes" (or its config key)',
  passthroughClientErrorEvents: 'the plugin always passes node errors through, to log them'
}

/** The createSentinel options given, copied and guarded. */
function sentinelOptionsOf (source: Source): FastifyRedisSentinelOptions {
  const given = source.options.sentinelOptions
  if (given === undefined) return {}
  if (!isPlainObject(given)) return source.fail('option "sentinelOptions"', `must be an object, got ${show(given)}`)
  for (const [key, instead] of Object.entries(RESERVED)) {
    if (given[key] !== undefined) source.fail(`option "sentinelOptions.${key}"`, `is not accepted: ${instead}`)
  }
  const copy: FastifyRedisSentinelOptions = { ...given }
  if (given.nodeClientOptions !== undefined) {
    copy.nodeClientOptions = nodeOptionsOf(source, 'sentinelOptions.nodeClientOptions', given.nodeClientOptions, 'the sentinels say where the master is; set the plugin\'s own tls option instead')
  }
  if (given.sentinelClientOptions !== undefined) {
    copy.sentinelClientOptions = nodeOptionsOf(source, 'sentinelOptions.sentinelClientOptions', given.sentinelClientOptions, 'set the plugin\'s own sentinelNodes (rediss:// URLs) and tls options instead')
  }
  return copy
}

/**
 * Sentinel mode: the sentinels (`found`), their credentials and TLS, the
 * master group name and the createSentinel options; the data nodes keep the
 * connection's db, credentials and TLS. Refused when the installed node-redis
 * has no Sentinel client (4), once everything else has been checked.
 */
export function sentinelOf (source: Source, found: Found, data: DataNodes): Where {
  let username = source.string('sentinelUsername')
  const rawPassword = source.get('sentinelPassword')
  if (rawPassword !== undefined && typeof rawPassword.value !== 'string') source.bad('sentinelPassword', rawPassword, 'a string')
  let password = rawPassword?.value as string | undefined
  const parsed = source.urls(found, 'sentinel').map((url) => {
    const node = source.url(url, found.where)
    const shown = redactUrl(url)
    if (node.socketPath !== undefined) source.fail(found.where, `has ${shown}: sentinels are reached over TCP, not unix sockets`)
    if (node.db !== undefined) source.fail(found.where, `has ${shown}: a sentinel has no database; give the master's with option "db" (config key ${source.key('db')})`)
    return node
  })
  const urls = agreed(source, found.where, parsed, 'sentinels', 'give them once, with sentinelUsername / sentinelPassword')
  username = urls.username ?? username
  password = urls.password ?? password
  const nodes = parsed.map((node) => Object.freeze({ host: node.host ?? 'localhost', port: node.port ?? SENTINEL_PORT }))
  const name = source.string('sentinelName')
  if (name === undefined) {
    source.fail(`option "sentinelName" (config key ${source.key('sentinelName')})`, `is required with sentinel nodes (${found.where}): the name of the master group the sentinels monitor`)
  }
  const options = sentinelOptionsOf(source)
  if (password === '') password = undefined
  const dataPassword = data.password === '' ? undefined : data.password
  const tls = data.tls ?? false
  const sentinelTls = urls.tls ? tls || {} : false
  const hosts = nodes.map(({ host, port }) => hostPort(host, port)).join(',')
  const dataAuth = [data.username !== undefined && `user ${data.username}`, dataPassword !== undefined && 'password ***'].filter(Boolean).join(', ')
  const target = `sentinel master "${name}" (${tls ? 'TLS, ' : ''}db ${data.db}${dataAuth === '' ? '' : `, ${dataAuth}`}) via ${sentinelTls ? 'rediss' : 'redis'}://${authOf(username, password)}${hosts}`
  const where: Where = {
    target,
    tls,
    username: data.username,
    password: dataPassword,
    sentinel: Object.freeze({ name, nodes, username, password, tls: sentinelTls, options: Object.freeze(options) })
  }
  const refusal = needs5('Sentinel')
  /* c8 ignore next -- which side is taken depends on the installed major: .ci/run runs the suite on each */
  return refusal === undefined ? where : source.fail(found.where, `asks for Redis Sentinel, but ${refusal}: upgrade node-redis (npm install redis@latest), or reach the master through an address that follows failovers`)
}
