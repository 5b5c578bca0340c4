import type { FastifyBaseLogger } from 'fastify'
import { ClientOfflineError } from 'redis'
import { FST_REDIS_CONNECT } from './errors'
import { ClusterDriver, clusterClientOptions, killSwitch, type ClusterLike } from './cluster'
import type { ConnectionSpec } from './options'

/** The part of a node-redis client the lifecycle relies on. */
export interface ClientLike {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect (): Promise<unknown>
  ping (): Promise<unknown>
  disconnect (): Promise<void>
  on (event: string, listener: (...args: any[]) => void): unknown
  off (event: string, listener: (...args: any[]) => void): unknown
  /** Drop and reopen what stopped answering (default: disconnect, then connect). */
  reopen? (closing: () => boolean): Promise<void>
  /** Called on every watchdog tick. */
  maintain? (): void
}

type Strategy = false | number | ((retries: number, cause: Error) => false | Error | number)

/** Longest wait between two reconnection attempts. */
export const MAX_BACKOFF = 2000

class TimeoutError extends Error {}

function noop (): void {}

/** Resolves with the promise, or rejects once `ms` have passed. */
async function within<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** Capped exponential backoff with a little jitter, so clients do not retry in step. */
export function backoff (retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 10), MAX_BACKOFF) + Math.floor(Math.random() * 50)
}

/** node-redis options for a client the plugin builds itself. */
function clientOptions (spec: ConnectionSpec, strategy: (retries: number, cause: Error) => false | number): object {
  const { socket: userSocket, ...rest } = spec.clientOptions
  const socket: Record<string, unknown> = {
    connectTimeout: spec.connectTimeout,
    ...userSocket,
    reconnectStrategy: strategy
  }
  if (spec.socketPath !== undefined) {
    socket.path = spec.socketPath
  } else {
    socket.host = spec.host
    socket.port = spec.port
  }
  if (spec.tls) Object.assign(socket, spec.tls, { tls: true })
  // Without a bound, an isolated command waits forever for a pool connection
  // that cannot connect, and the pool keeps creating them even after close.
  const isolationPoolOptions = spec.commandTimeout > 0
    ? { acquireTimeoutMillis: spec.commandTimeout, ...rest.isolationPoolOptions }
    : rest.isolationPoolOptions
  return {
    ...rest,
    ...(isolationPoolOptions && { isolationPoolOptions }),
    socket,
    database: spec.db,
    ...(spec.username !== undefined && { username: spec.username }),
    ...(spec.password !== undefined && { password: spec.password })
  }
}

/**
 * node-redis v4 honours disableOfflineQueue for single commands only: MULTI /
 * pipelines and executeIsolated() still wait for the connection to come back
 * (an isolated command forever). Make them fail at once too, on this client only.
 */
function failFastWhileOffline (client: ClientLike): void {
  const target = client as unknown as Record<'multiExecutor' | 'executeIsolated', (...args: unknown[]) => Promise<unknown>>
  for (const method of ['multiExecutor', 'executeIsolated'] as const) {
    const original = target[method]
    /* c8 ignore next -- a builder that returns a client without these methods (not node-redis) */
    if (typeof original !== 'function') continue
    target[method] = function (this: unknown, ...args: unknown[]) {
      return client.isReady ? original.apply(client, args) : Promise.reject(new ClientOfflineError())
    }
  }
}

/** What a TLS server that wants a client certificate it trusts makes the client see, depending on timing and TLS version. */
const CLIENT_CERTIFICATE_REFUSED = new Set([
  'ECONNRESET',
  'EPIPE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN'
])

/**
 * Why startup failed, from its cause: OpenSSL's reason rather than its
 * message (which carries OpenSSL's source paths), and a hint when a TLS
 * server may have refused the client certificate, or the lack of one.
 */
function startupReason (spec: ConnectionSpec, cause: Error): string {
  const { code, reason } = cause as { code?: unknown, reason?: unknown }
  const text = typeof reason === 'string' && /^ERR_SSL_/.test(String(code)) ? reason : cause.message
  if (spec.tls === false || !CLIENT_CERTIFICATE_REFUSED.has(String(code))) return text
  return `${text}; the server ended the TLS connection: if it requires client certificates, set tls.cert and tls.key to one signed by a CA it trusts`
}

/**
 * One connection's lifecycle: connect within a deadline, log state changes
 * once per transition, close in bounded time. Wraps the traps of node-redis v4
 * (see DESIGN.md): connect() that never settles, a missing error listener,
 * quit() that hangs during an outage.
 */
export class Connection {
  /** What the lifecycle drives: the client, or an adapter of the cluster. */
  readonly client: ClientLike
  /** What `fastify.redis[name]` is: the client, or the cluster. */
  readonly exposed: unknown
  private starting = false
  private closing = false
  private state: 'new' | 'ready' | 'down' = 'new'
  private downSince = 0
  private lastError: Error | undefined
  private watchdog: NodeJS.Timeout | undefined
  /** When the outstanding watchdog PING was sent; 0 when none is. */
  private probeSince = 0
  private probeId = 0
  /** Whether the plugin opened the client (and so must close it if startup fails). */
  private opened = false
  /** Whether a socket ever connected (for TLS: completed its handshake). */
  private connected = false
  private readonly log: FastifyBaseLogger

  /**
   * `client` is the user's own client, or the builder of ours, which gets
   * node-redis options that route reconnection through this connection.
   */
  constructor (readonly spec: ConnectionSpec, client: ClientLike | ((options: object) => unknown), log: FastifyBaseLogger) {
    if (typeof client !== 'function') {
      this.client = client
    } else if (spec.cluster !== undefined) {
      const kill = killSwitch()
      const cluster = client(clusterClientOptions(spec, this.strategy, kill.signal)) as ClusterLike
      this.client = new ClusterDriver(cluster, kill)
      this.exposed = cluster
    } else {
      this.client = client(clientOptions(spec, this.strategy)) as ClientLike
      if (spec.clientOptions.disableOfflineQueue === true) failFastWhileOffline(this.client)
    }
    this.exposed ??= this.client
    this.log = log
    this.client.on('error', this.onError)
    this.client.on('ready', this.onReady)
    this.client.on('connect', this.onConnect)
  }

  /** What node-redis calls before each reconnection attempt. */
  readonly strategy = (retries: number, cause: Error): false | number => {
    // At startup, fail at once with the cause (refused, DNS, TLS, auth)
    // instead of retrying until the plugin timeout.
    if (this.closing || this.starting) return false
    const user = (this.spec.cluster?.options.defaults?.socket ?? this.spec.clientOptions.socket)?.reconnectStrategy as Strategy | undefined
    if (user === undefined) return backoff(retries)
    if (typeof user !== 'function') return user
    const next = user(retries, cause)
    return next instanceof Error ? false : next
  }

  private readonly onError = (err: Error): void => {
    this.lastError = err
    if (this.closing || this.starting) return
    if (this.state === 'down') {
      this.log.debug({ err }, `redis connection "${this.spec.name}" still down: ${err.message}`)
      return
    }
    const was = this.state
    this.state = 'down'
    this.downSince = Date.now()
    this.log.error({ err }, was === 'ready'
      ? `redis connection "${this.spec.name}" lost (${err.message}); reconnecting with backoff, commands fail fast until it is back`
      : `redis connection "${this.spec.name}" to ${this.spec.target} cannot connect yet (${err.message}); retrying with backoff`)
  }

  private readonly onConnect = (): void => {
    this.connected = true
  }

  private readonly onReady = (): void => {
    if (this.closing || this.starting) return
    if (this.state === 'down') {
      this.log.info(`redis connection "${this.spec.name}" is ready again after ${Date.now() - this.downSince} ms`)
    }
    this.state = 'ready'
  }

  /** Resolves once a PING is answered, or throws FST_REDIS_CONNECT within connectTimeout. */
  async start (): Promise<void> {
    const { client, spec } = this
    this.opened = !client.isOpen
    if (spec.lazyConnect) {
      if (this.opened) client.connect().catch(noop)
      this.watch()
      return
    }
    this.starting = true
    let connecting: Promise<unknown> | undefined
    try {
      const ready = async (): Promise<void> => {
        if (this.opened) {
          connecting = client.connect()
          await connecting
        }
        // A connection can be "ready" without a single round trip (db 0, no
        // password): only an answered PING proves the server is there.
        await client.ping()
      }
      await within(ready(), spec.connectTimeout)
    } catch (err) {
      connecting?.catch(noop)
      // Read the last error before teardown adds its own.
      const last = this.lastError
      const timedOut = err instanceof TimeoutError
      const cause = timedOut && last ? last : err as Error
      // A cluster's "All the root nodes are unavailable" hides why: add the last node error.
      const detail = last !== undefined && (timedOut || last.message !== cause.message) ? `; last error: ${last.message}` : ''
      // TLS to a port that does not serve it: the server waits for a newline that never comes.
      const handshake = spec.tls !== false && spec.cluster === undefined && !this.connected
        ? '; the TLS handshake never completed: is the server at this address serving TLS?'
        : ''
      const why = `${timedOut ? `no answer within ${spec.connectTimeout} ms (connectTimeout)${handshake}` : startupReason(spec, cause)}${detail}`
      if (this.opened) await this.shutdown(spec.closeTimeout)
      this.detach()
      throw new FST_REDIS_CONNECT(`connection "${spec.name}" to ${spec.target} failed at startup: ${why}`, { cause })
    } finally {
      this.starting = false
    }
    this.state = 'ready'
    this.log.debug(`redis connection "${spec.name}" to ${spec.target} is ready`)
    this.watch()
  }

  /**
   * node-redis v4 has no command timeout: against a server that keeps the
   * socket open but stops answering (paused, hung host), every command waits
   * forever. A PING probe sent every commandTimeout / 4 detects that within
   * commandTimeout, and the connection is dropped and reopened, which rejects
   * every waiting command.
   */
  private watch (): void {
    const timeout = this.spec.commandTimeout
    if (this.spec.client !== undefined) return
    // A cluster is also looked after while its commands are not timed.
    const every = this.client.maintain === undefined ? timeout / 4 : Math.min(timeout / 4 || 500, 500)
    if (every === 0) return
    this.watchdog = setInterval(this.tick, Math.max(Math.floor(every), 10))
    this.watchdog.unref()
  }

  private readonly tick = (): void => {
    const { client, spec } = this
    client.maintain?.()
    if (!client.isReady) return
    // A cluster emits no "ready" of its own: notice the recovery here.
    if (this.state === 'down') this.onReady()
    if (spec.commandTimeout === 0) return
    if (this.probeSince === 0) {
      const id = ++this.probeId
      this.probeSince = Date.now()
      const done = (): void => { if (id === this.probeId) this.probeSince = 0 }
      client.ping().then(done, done)
    } else if (Date.now() - this.probeSince >= spec.commandTimeout) {
      this.probeId++
      this.probeSince = 0
      this.onError(new Error(`no answer within ${spec.commandTimeout} ms (commandTimeout)`))
      this.reopen().catch(noop)
    }
  }

  /** Drops the stalled socket (waiting commands reject at once), then reconnects. */
  private async reopen (): Promise<void> {
    const { client } = this
    if (client.reopen !== undefined) {
      await client.reopen(() => this.closing)
      return
    }
    await within(client.disconnect(), this.spec.commandTimeout).catch(noop)
    if (!this.closing) await client.connect()
  }

  /**
   * Drains (a PING answered means every earlier command was answered), then
   * drops the socket. Never quit(): it hangs forever while the server is down.
   */
  async close (): Promise<void> {
    const { client, spec } = this
    this.closing = true
    clearInterval(this.watchdog)
    if (spec.closeClient) {
      if (client.isReady) await within(client.ping(), spec.closeTimeout).catch(noop)
      await this.shutdown(spec.closeTimeout)
    }
    this.detach()
  }

  private async shutdown (ms: number): Promise<void> {
    this.closing = true
    if (!this.client.isOpen) return
    await within(this.client.disconnect(), ms).catch(noop)
  }

  private detach (): void {
    this.client.off('error', this.onError)
    this.client.off('ready', this.onReady)
    this.client.off('connect', this.onConnect)
    // A late error from a socket being torn down must still find a listener;
    // a client the user keeps is theirs to listen to.
    if (this.spec.closeClient) this.client.on('error', noop)
  }
}
