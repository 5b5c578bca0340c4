import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { FST_REDIS_CONNECT } from './errors'
import { createDriver, type Builder } from './driver/build'
import { noop, TimeoutError, within, type Driver } from './driver/driver'
import { describeSubscriptions, SubscriberDriver, total, type Subscriptions } from './driver/subscriber'
import { metricsFor, type ConnectionMetrics } from './metrics'
import type { ConnectionSpec } from './options'

type Strategy = false | number | ((retries: number, cause: Error) => false | Error | number)

/**
 * Most watchdog PINGs in flight at once. A client ticks every
 * commandTimeout / 4, so it never has more than 5; a cluster or a Sentinel
 * client ticks every 500 ms at most, and with a long commandTimeout would
 * queue one PING per tick on a stalled server.
 */
const MAX_PROBES = 16

/** Longest wait between two reconnection attempts. */
export const MAX_BACKOFF = 2000

/** Capped exponential backoff with a little jitter, so clients do not retry in step. */
export function backoff (retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 10), MAX_BACKOFF) + Math.floor(Math.random() * 50)
}

/** What a TLS server that wants a client certificate it trusts makes the client see, depending on timing and TLS version. */
const CLIENT_CERTIFICATE_REFUSED = new Set([
  'ECONNRESET',
  'EPIPE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  // OpenSSL 3.5 (Node 22.20+, 24) says "ssl/tls alert handshake failure".
  'ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE',
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
  /* c8 ignore next 3 -- node-redis 4 and 5 only: 6 names the connection in its HELLO, which ACLs do not check as CLIENT SETNAME */
  if (spec.subscriber === true && /NOPERM.*client\|setname/i.test(text)) {
    return `${text}; a subscriber names its connection (CLIENT SETNAME) so that its subscriptions can be checked after a reconnection: allow +client|setname and +client|list for this user`
  }
  if (spec.tls === false || !CLIENT_CERTIFICATE_REFUSED.has(String(code))) return text
  return `${text}; the server ended the TLS connection: if it requires client certificates, set tls.cert and tls.key to one signed by a CA it trusts`
}

/**
 * One connection's lifecycle, the same on every node-redis major: connect
 * within a deadline, log state changes once per transition, find a stalled
 * server, close in bounded time. Wraps the traps of node-redis (see
 * DESIGN.md): connect() that never settles, a missing error listener, quit()
 * that hangs during an outage, sockets a reconnect opens during close.
 */
export class Connection {
  /** What the lifecycle drives: the client, the cluster or the pool, through its driver. */
  readonly driver: Driver
  /** What `fastify.redis[name]` is: the client, the cluster or the pool. */
  readonly exposed: object
  /** Its metrics, with option `metrics`; undefined when they are off. */
  readonly metrics: ConnectionMetrics | undefined
  private starting = false
  private closing = false
  private state: 'new' | 'ready' | 'down' = 'new'
  private downSince = 0
  private lastError: Error | undefined
  /**
   * The last TLS alert: node-redis 5 reports one that arrives after the
   * handshake (a refused client certificate, TLS 1.3) as "Socket closed
   * unexpectedly", emitted after the alert itself.
   */
  private alert: Error | undefined
  /** While starting: makes startup fail at once with this error. */
  private failStart: ((err: Error) => void) | undefined
  private watchdog: NodeJS.Timeout | undefined
  /** When each watchdog PING not answered yet was sent, by id: the first is the oldest. */
  private readonly probes = new Map<number, number>()
  private probeId = 0
  /** Whether the plugin opened the client (and so must close it if startup fails). */
  private opened = false
  /** Whether a socket ever connected (for TLS: completed its handshake). */
  private connected = false
  private readonly log: FastifyBaseLogger
  /** Whether a subscriber was reopened because the server did not list all its subscriptions. */
  private reopened = false

  /** `build` makes the client from node-redis options that route reconnection through this connection. */
  constructor (readonly spec: ConnectionSpec, build: Builder, log: FastifyBaseLogger) {
    const { driver, exposed } = createDriver(spec, build, this.strategy)
    this.driver = driver
    this.exposed = exposed
    this.metrics = metricsFor(spec, exposed)
    if (this.metrics !== undefined && driver instanceof SubscriberDriver) driver.meter(this.metrics)
    this.log = log
    driver.on('error', this.onError)
    driver.on('ready', this.onReady)
    driver.on('connect', this.onConnect)
    if (spec.client === undefined && spec.pool === undefined && spec.sentinel === undefined) this.manageDuplicates(build)
  }

  /** The duplicates of this connection not closed yet (closed with it). */
  private readonly duplicates = new Set<Connection>()
  private duplicated = 0

  /**
   * node-redis's README teaches `client.duplicate()` for a second connection
   * (SUBSCRIBE, blocking commands). Without an error listener the first
   * dropped connection crashes the process, and nothing would close it: the
   * duplicates of a connection the plugin built get the plugin's listener and
   * logging, reconnect as it does (they inherit its options), and close with it.
   */
  private manageDuplicates (build: Builder): void {
    const target = this.exposed as { duplicate?: (...args: unknown[]) => object }
    const duplicate = target.duplicate
    // A clientClass may build something without duplicate().
    if (typeof duplicate !== 'function') return
    target.duplicate = (...args: unknown[]): object => {
      const copy = duplicate.apply(this.exposed, args)
      const name = `${this.spec.name} (duplicate ${++this.duplicated})`
      // No metrics of its own: duplicates come and go, and each would be a label.
      const spec = { ...this.spec, name, client: copy, closeClient: true, subscriber: undefined, metrics: false }
      const managed = new Connection(spec, build, this.log.child({ duplicate: this.duplicated }))
      this.duplicates.add(managed)
      // Closed by its user (quit, close, disconnect, destroy): forget it.
      managed.driver.on('end', () => {
        if (managed.driver.isOpen) return
        this.duplicates.delete(managed)
        managed.close().catch(noop)
      })
      return copy
    }
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
    if (/^ERR_SSL_/.test(String((err as { code?: unknown }).code))) {
      this.alert = err
      // No retry mends a refused certificate, and node-redis 5 may leave its
      // handshake commands waiting forever after the alert: fail at once.
      this.failStart?.(err)
    }
    if (this.closing || this.starting) return
    if (this.state === 'down') {
      this.log.debug({ err }, `redis connection "${this.spec.name}" still down: ${err.message}`)
      return
    }
    const was = this.state
    this.state = 'down'
    this.downSince = Date.now()
    this.metrics?.down()
    this.log.error({ err }, was === 'ready'
      ? `redis connection "${this.spec.name}" lost (${err.message}); reconnecting with backoff, commands fail fast until it is back`
      : `redis connection "${this.spec.name}" to ${this.spec.target} cannot connect yet (${err.message}); retrying with backoff`)
  }

  private readonly onConnect = (): void => {
    this.connected = true
  }

  private readonly onReady = (): void => {
    if (this.closing || this.starting) return
    const { driver } = this
    const was = this.state
    this.state = 'ready'
    this.metrics?.ready()
    if (was !== 'down') return
    if (driver instanceof SubscriberDriver && total(driver.held()) > 0) {
      this.verify(driver, this.downSince).catch(noop)
    } else {
      this.log.info(`redis connection "${this.spec.name}" is ready again after ${Date.now() - this.downSince} ms`)
    }
  }

  /**
   * After a subscriber reconnects, node-redis resubscribes by itself: check
   * that the server lists every subscription again (retrying while the
   * SUBSCRIBEs are in flight, up to commandTimeout), log the recovery, and
   * reopen the connection once if some are still missing.
   */
  private async verify (driver: SubscriberDriver, since: number): Promise<void> {
    const { spec } = this
    const bound = Math.max(spec.commandTimeout, 1000)
    const deadline = Date.now() + bound
    for (;;) {
      const held = driver.held()
      let listed: Subscriptions
      try {
        listed = await driver.listed(bound)
      } catch (err) {
        /* c8 ignore next -- closed during the check (close tears its connection down): a race no test can time */
        if (this.closing) return
        this.log.warn({ err }, `redis subscriber "${spec.name}" is ready again after ${Date.now() - since} ms, but its ${total(held)} subscriptions could not be checked (CLIENT LIST on a second connection: ${(err as Error).message})`)
        return
      }
      if (listed.channels === held.channels && listed.patterns === held.patterns && listed.shards === held.shards) {
        this.reopened = false
        this.log.info({ restored: total(held), ...held }, `redis subscriber "${spec.name}" is ready again after ${Date.now() - since} ms: the server lists its ${total(held)} subscriptions again (${describeSubscriptions(held)}); messages published while it was down are lost`)
        return
      }
      /* c8 ignore next -- closed or lost again during the check (the next recovery checks again): a race no test can time */
      if (this.closing || this.state !== 'ready') return
      if (Date.now() >= deadline) {
        const missing = `the server lists ${total(listed)} of its ${total(held)} subscriptions (${describeSubscriptions(held)}) ${bound} ms after it reconnected (looking for client name "${driver.clientName}": it must be unique)`
        if (this.reopened) {
          this.log.error(`redis subscriber "${spec.name}": ${missing}, again after reopening it; messages to the missing ones are not received`)
          return
        }
        this.reopened = true
        // Down until ready again, so that the next "ready" checks again.
        this.state = 'down'
        this.metrics?.down()
        this.log.warn(`redis subscriber "${spec.name}": ${missing}; reopening the connection to subscribe again`)
        driver.reopen(() => this.closing, spec.commandTimeout).catch(noop)
        return
      }
      await sleep(100, undefined, { ref: false })
    }
  }

  /** Resolves once a PING is answered, or throws FST_REDIS_CONNECT within connectTimeout. */
  async start (): Promise<void> {
    const { driver, spec } = this
    const started = Date.now()
    this.opened = !driver.isOpen
    if (spec.lazyConnect) {
      if (this.opened) driver.connect().catch(noop)
      this.watch()
      return
    }
    this.starting = true
    let connecting: Promise<unknown> | undefined
    try {
      const ready = async (): Promise<void> => {
        if (this.opened) {
          connecting = driver.connect()
          await connecting
        }
        // A connection can be "ready" without a single round trip (db 0, no
        // password): only an answered PING proves the server is there.
        await driver.ping()
      }
      const failed = new Promise<never>((_resolve, reject) => { this.failStart = reject })
      await within(Promise.race([ready(), failed]), spec.connectTimeout)
    } catch (err) {
      connecting?.catch(noop)
      // Read the last error before teardown adds its own.
      const last = this.lastError
      const timedOut = err instanceof TimeoutError
      const cause = timedOut && last ? last : this.alert ?? err as Error
      // A cluster's "All the root nodes are unavailable" hides why: add the last node error.
      const detail = last !== undefined && cause !== this.alert && (timedOut || last.message !== cause.message) ? `; last error: ${last.message}` : ''
      // TLS to a port that does not serve it: the server waits for a newline that never comes.
      const handshake = spec.tls !== false && spec.cluster === undefined && spec.sentinel === undefined && !this.connected
        ? '; the TLS handshake never completed: is the server at this address serving TLS?'
        : ''
      const why = `${timedOut ? `no answer within ${spec.connectTimeout} ms (connectTimeout)${handshake}` : startupReason(spec, cause)}${detail}`
      if (this.opened) await this.shutdown(spec.closeTimeout)
      this.detach()
      throw new FST_REDIS_CONNECT(`connection "${spec.name}" to ${spec.target} failed at startup: ${why}`, { cause })
    } finally {
      this.starting = false
      this.failStart = undefined
    }
    this.state = 'ready'
    this.metrics?.ready()
    this.log.info({ target: spec.target, ms: Date.now() - started }, `redis connection "${spec.name}" ready: ${spec.target}${driver.describe()} in ${Date.now() - started} ms`)
    this.watch()
  }

  /**
   * A server that keeps the socket open but stops answering (paused, hung
   * host) leaves every command waiting: node-redis 4 has no command timeout,
   * and that of 5 and 6 covers only commands not yet written. A PING probe
   * sent every commandTimeout / 4 detects it within commandTimeout, and the
   * connection is dropped and reopened, which rejects every waiting command.
   */
  private watch (): void {
    const timeout = this.spec.commandTimeout
    if (this.spec.client !== undefined) return
    // A cluster or a Sentinel client is also looked after while its commands are not timed.
    const every = this.spec.cluster === undefined && this.spec.sentinel === undefined ? timeout / 4 : Math.min(timeout / 4 || 500, 500)
    if (every === 0) return
    this.watchdog = setInterval(this.tick, Math.max(Math.floor(every), 10))
    this.watchdog.unref()
  }

  private readonly tick = (): void => {
    try {
      this.probe()
    } catch (err) {
      // Whatever the driver does, nothing may throw out of a timer.
      this.log.warn({ err }, `redis connection "${this.spec.name}": watchdog: ${(err as Error).message}`)
    }
  }

  private probe (): void {
    const { driver, spec } = this
    driver.maintain()
    if (!driver.isReady) return
    // A cluster or a pool emits no "ready" of its own: notice the recovery here.
    if (this.state === 'down') this.onReady()
    if (spec.commandTimeout === 0) return
    const now = Date.now()
    const oldest = this.probes.values().next().value
    if (oldest !== undefined && now - oldest >= spec.commandTimeout) {
      this.probes.clear()
      this.onError(new Error(`no answer within ${spec.commandTimeout} ms (commandTimeout)`))
      // Drops the stalled socket (waiting commands reject at once), then reconnects.
      driver.reopen(() => this.closing, spec.commandTimeout).catch(noop)
      return
    }
    // A PING every tick, even while earlier ones wait: Redis answers in
    // order, so every command has a PING behind it within one tick, which is
    // answered only after it. (One PING at a time let a command wait behind
    // a slow PING answered just in time, then behind the next one: about
    // 2 × commandTimeout, seen by the chaos run on a slow link.)
    /* c8 ignore next -- a cluster or Sentinel client with commandTimeout above 8 s, stalled that long */
    if (this.probes.size >= MAX_PROBES) return
    const id = ++this.probeId
    this.probes.set(id, now)
    const done = (): void => { this.probes.delete(id) }
    driver.ping().then(done, done)
  }

  /**
   * Drains (for a client, a PING answered means every earlier command was
   * answered), then drops the sockets. Never quit(): it hangs forever while
   * the server is down.
   */
  async close (): Promise<void> {
    const { driver, spec } = this
    this.closing = true
    await Promise.all([...this.duplicates].map(async (duplicate) => await duplicate.close()))
    // The watchdog keeps watching while close drains: a command stuck on a
    // stalled server still fails within 1.5 × commandTimeout, not at
    // closeTimeout (a reopen while closing drops the socket for good).
    if (spec.closeClient && driver.isReady) await within(driver.drain(), spec.closeTimeout).catch(noop)
    clearInterval(this.watchdog)
    if (spec.closeClient) await this.shutdown(spec.closeTimeout)
    this.detach()
  }

  private async shutdown (ms: number): Promise<void> {
    this.closing = true
    await within(this.driver.close(), ms).catch(noop)
  }

  private detach (): void {
    const { driver } = this
    // A late error from a socket being torn down must still find a listener
    // (a client the user keeps is theirs to listen to). Added first: on 5+
    // the client is an Object.create() wrapper whose listener table is
    // replaced once its count drops to zero, and a listener added then would
    // land on the wrapper, not on the client that emits.
    if (this.spec.closeClient) driver.on('error', noop)
    driver.off('error', this.onError)
    driver.off('ready', this.onReady)
    driver.off('connect', this.onConnect)
    this.metrics?.stop()
  }
}
