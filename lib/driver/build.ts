import { createClient } from 'redis'
import type { ConnectionSpec } from '../options'
import { ClientDriver, type NodeRedisClient } from './client'
import { ClusterDriver, isCluster } from './cluster'
import type { Driver } from './driver'
import { isSentinel, SentinelDriver } from './sentinel'
import { SubscriberDriver } from './subscriber'
import { killSwitch, type KillSwitch } from './kill-switch'
import { PoolDriver, type NodeRedisPool } from './pool'

export type Strategy = (retries: number, cause: Error) => false | number
/** What builds a client or a cluster from node-redis options (a pool: and the pool's). */
export type Builder = (options: object, poolOptions?: object) => unknown

/** The socket options every client the plugin builds gets, above the user's own. */
function socketOf (spec: ConnectionSpec, user: object | undefined, strategy: Strategy, kill: KillSwitch, tls = spec.tls): Record<string, unknown> {
  const socket: Record<string, unknown> = { connectTimeout: spec.connectTimeout, ...user, reconnectStrategy: strategy, signal: kill.signal }
  if (tls) Object.assign(socket, tls, { tls: true })
  return socket
}

/**
 * Options that only some majors read, set for all (each major ignores what
 * it does not know): v4's isolation pool gets a bound, or an isolated
 * command waits forever for a pool connection that cannot connect (and the
 * pool keeps creating them after close). On 5.6 and later, with the offline
 * queue on (`disableOfflineQueue: false`), `commandTimeout` also bounds the
 * commands it holds (node-redis's `commandOptions.timeout`). Not with the
 * queue off (the default): nothing waits in it then, the watchdog bounds
 * what was sent, and node-redis's per-command timer (an
 * `AbortSignal.timeout()` per command) doubled the server CPU per request
 * on node-redis 5 in the benchmark. (node-redis 6 times every command at
 * 5 s by itself.)
 */
function boundsOf (spec: ConnectionSpec, given: Record<string, any>): { isolationPoolOptions?: object, commandOptions?: object } {
  if (spec.commandTimeout === 0) return {}
  return {
    isolationPoolOptions: { acquireTimeoutMillis: spec.commandTimeout, ...given.isolationPoolOptions },
    ...(given.disableOfflineQueue === false && { commandOptions: { timeout: spec.commandTimeout, ...given.commandOptions } })
  }
}

function credentialsOf ({ username, password }: { username?: string, password?: string }): Record<string, string> {
  return {
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password })
  }
}

/** node-redis `createClient` options for a client the plugin builds itself. */
function clientOptions (spec: ConnectionSpec, strategy: Strategy, kill: KillSwitch): object {
  const { socket: user, ...rest } = spec.clientOptions as Record<string, any>
  const socket = socketOf(spec, user, strategy, kill)
  if (spec.socketPath !== undefined) {
    socket.path = spec.socketPath
  } else {
    socket.host = spec.host
    socket.port = spec.port
  }
  return { ...rest, ...boundsOf(spec, rest), socket, database: spec.db, ...credentialsOf(spec) }
}

/** node-redis `createCluster` options for a cluster the plugin builds itself. */
function clusterOptions (spec: ConnectionSpec, strategy: Strategy, kill: KillSwitch): object {
  const { defaults = {}, ...rest } = spec.cluster!.options as Record<string, any>
  const { socket: user, ...defaultsRest } = defaults
  return {
    ...rest,
    // A cluster passes its own command options (and 6's default timeout) to
    // every node; whether commands can wait in a queue is the nodes' setting.
    commandOptions: boundsOf(spec, { ...rest, disableOfflineQueue: defaultsRest.disableOfflineQueue }).commandOptions ?? rest.commandOptions,
    rootNodes: spec.cluster!.rootNodes.map(({ host, port }) => ({ socket: { host, port } })),
    // Credentials, TLS and disableOfflineQueue must sit in `defaults`: the
    // root nodes' own options reach the topology probe only.
    defaults: {
      disableOfflineQueue: true,
      ...defaultsRest,
      ...boundsOf(spec, defaultsRest),
      socket: socketOf(spec, user, strategy, kill),
      ...credentialsOf(spec)
    }
  }
}

/* c8 ignore start -- pools are node-redis 5 and later's (4 refuses the option): test/pool.test.ts runs this on 5 and 6 (.ci/run) */
/** node-redis `createClientPool` options: the sizes and timings resolved, for a pool of clients built with clientOptions(). */
function poolOptions (spec: ConnectionSpec): object {
  return { ...spec.pool }
}
/* c8 ignore stop */

/* c8 ignore start -- node-redis 5 and later only: on 4, Sentinel is refused at resolution (.ci/run runs the suite on each major) */
/** node-redis `createSentinel` options for a Sentinel client the plugin builds itself. */
function sentinelOptions (spec: ConnectionSpec, strategy: Strategy, kill: KillSwitch): object {
  const sentinel = spec.sentinel!
  const { nodeClientOptions = {}, sentinelClientOptions = {}, ...rest } = sentinel.options as Record<string, any>
  const { socket: nodeSocket, ...node } = nodeClientOptions
  const { socket: sentinelSocket, ...sentinels } = sentinelClientOptions
  const commandOptions = boundsOf(spec, rest).commandOptions ?? rest.commandOptions
  return {
    ...rest,
    // The Sentinel client passes its own command options (and 6's default timeout) to the master's connections.
    commandOptions,
    name: sentinel.name,
    sentinelRootNodes: sentinel.nodes.map(({ host, port }) => ({ host, port })),
    // Node errors reach the Sentinel client's "error", and so the plugin's listener.
    passthroughClientErrorEvents: true,
    nodeClientOptions: {
      disableOfflineQueue: true,
      ...node,
      commandOptions: boundsOf(spec, node).commandOptions ?? node.commandOptions,
      // No reconnection of their own: the Sentinel client rediscovers the master instead.
      socket: { ...socketOf(spec, nodeSocket, strategy, kill), reconnectStrategy: false },
      database: spec.db,
      ...credentialsOf(spec)
    },
    // node-redis gives the sentinel connections no reconnection (it moves to another sentinel instead).
    sentinelClientOptions: {
      ...sentinels,
      socket: socketOf(spec, sentinelSocket, strategy, kill, sentinel.tls),
      ...credentialsOf(sentinel)
    }
  }
}
/* c8 ignore stop */

function optionsFor (spec: ConnectionSpec, strategy: Strategy, kill: KillSwitch): object {
  /* c8 ignore next -- a Sentinel spec exists on node-redis 5 and later only */
  if (spec.sentinel !== undefined) return sentinelOptions(spec, strategy, kill)
  return spec.cluster === undefined ? clientOptions(spec, strategy, kill) : clusterOptions(spec, strategy, kill)
}

/** The adapter of what was built (or passed in), by what it can do. */
function driverFor (spec: ConnectionSpec, exposed: object, kill: KillSwitch | undefined): Driver {
  if (isCluster(exposed)) return new ClusterDriver(exposed, kill)
  /* c8 ignore next -- a Sentinel client exists on node-redis 5 and later only */
  if (isSentinel(exposed)) return new SentinelDriver(exposed, kill, spec.commandTimeout)
  return new ClientDriver(exposed as NodeRedisClient, kill, kill !== undefined && spec.clientOptions.disableOfflineQueue === true)
}

const drivers = new WeakMap<object, Driver>()
/** Subscribers built in this process, for their default client names. */
let subscribers = 0

/** The driver of a client or cluster `fastify.redis` holds. */
export function driverOf (exposed: object): Driver | undefined {
  return drivers.get(exposed)
}

/**
 * Builds the client (unless the user passed one) and adapts it, by what the
 * object can do rather than by the installed major, so a `clientClass` or a
 * `client` of any major works.
 */
export function createDriver (spec: ConnectionSpec, build: Builder, strategy: Strategy): { driver: Driver, exposed: object } {
  let exposed: object
  let kill: KillSwitch | undefined
  const failFast = spec.clientOptions.disableOfflineQueue === true
  /* c8 ignore start -- pools are node-redis 5 and later's (4 refuses the option): test/pool.test.ts runs this on 5 and 6 (.ci/run) */
  if (spec.pool !== undefined) {
    kill = killSwitch()
    // Called on a failed connect only, once the driver exists.
    const members: Strategy = (retries, cause) => driver.strategyOf(strategy)(retries, cause)
    exposed = build(clientOptions(spec, members, kill), poolOptions(spec)) as object
    const probe = createClient(clientOptions(spec, strategy, kill)) as unknown as NodeRedisClient
    const driver = new PoolDriver(exposed as NodeRedisPool, probe, kill, failFast, spec.pool)
    drivers.set(exposed, driver)
    return { driver, exposed }
  }
  /* c8 ignore stop */
  if (spec.subscriber === true) {
    kill = killSwitch()
    const options = clientOptions(spec, strategy, kill) as { name?: string }
    // A name of its own, by which the server's CLIENT LIST tells it from the app's other connections.
    const name = options.name ?? `fastify-node-redis:${spec.name}:${process.pid}:${++subscribers}`
    exposed = build({ ...options, name }) as object
    const verifier = (): NodeRedisClient => build({ ...clientOptions(spec, () => false, kill!), name: undefined }) as NodeRedisClient
    const driver = new SubscriberDriver(exposed as NodeRedisClient, kill, name, verifier)
    drivers.set(exposed, driver)
    return { driver, exposed }
  }
  if (spec.client !== undefined) {
    exposed = spec.client as object
  } else {
    kill = killSwitch()
    exposed = build(optionsFor(spec, strategy, kill)) as object
  }
  const driver = driverFor(spec, exposed, kill)
  drivers.set(exposed, driver)
  return { driver, exposed }
}
