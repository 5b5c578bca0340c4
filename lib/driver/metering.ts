import * as dc from 'node:diagnostics_channel'
import { driverOf } from './build'
import { ClientDriver } from './client'
import { layerCommands } from './commands'
import { PUBSUB_METHODS, SubscriberDriver } from './subscriber'

/** Where a connection's command timings go (lib/metrics.ts's ConnectionMetrics). */
export interface CommandSink {
  /** A command answered; `start` is the `performance.now()` of its call. */
  done (start: number): void
  failed (start: number, err: unknown): void
}

/** Awaits a command's reply and reports it, with its latency from `start`, to `sink`: the one async frame a metered command costs. */
async function settled (sink: CommandSink, start: number, pending: unknown): Promise<unknown> {
  try {
    const reply = await pending
    sink.done(start)
    return reply
  } catch (err) {
    sink.failed(start, err)
    throw err
  }
}

type MultiClass = new (...args: any[]) => { exec (...args: unknown[]): Promise<unknown>, execAsPipeline (...args: unknown[]): Promise<unknown> }

/**
 * Each `exec()` of a MULTI or a pipeline counts as one command, on every
 * major: the client (or cluster) gets a subclass of its Multi class, as the
 * fail-fast check does (lib/driver/client.ts), which costs nothing per
 * transaction built. A v4 cluster keeps its Multi class private: its
 * transactions are not counted.
 */
function meterMulti (target: Record<string, unknown>, sink: CommandSink): () => void {
  const Multi = target.Multi as MultiClass | undefined
  /* c8 ignore next -- node-redis 4's cluster only (5 and 6 have a Multi class on it): .ci/run runs the suite on each major */
  if (typeof Multi !== 'function') return () => {}
  const own = Object.getOwnPropertyDescriptor(target, 'Multi')
  target.Multi = class MeteredMulti extends Multi {
    // Not async: settled() is the one async frame (node-redis's exec() and execAsPipeline() are async, they never throw at the call).
    override exec (...args: unknown[]): Promise<unknown> { return settled(sink, performance.now(), super.exec(...args)) }
    override execAsPipeline (...args: unknown[]): Promise<unknown> { return settled(sink, performance.now(), super.execAsPipeline(...args)) }
  }
  return () => {
    if (own === undefined) delete target.Multi
    else Object.defineProperty(target, 'Multi', own)
  }
}

/**
 * The plugin's own hook, where node-redis publishes no command traces (4,
 * 5 before 5.12, a cluster, a pool, a Sentinel client) or where nothing
 * reads them yet (see tracesPaidFor()): a layer between
 * `target` and its prototype whose command methods time the original. A
 * command sent through another one (a v4 cluster's commands go through its
 * sendCommand()) is counted once. Undone by the function returned.
 */
function meterMethods (target: object, sink: CommandSink, skip?: ReadonlySet<string>): () => void {
  let inside = false
  const remove = layerCommands(target, (name) => {
    const original = (target as Record<string, (...args: unknown[]) => unknown>)[name]
    // Not async: a command sent through another one (a v4 cluster's go through its sendCommand()) passes straight through, and settled() is the one async frame.
    return function (this: unknown, ...args: unknown[]) {
      /* c8 ignore next -- node-redis 4's cluster only: its commands go through its sendCommand() (.ci/run runs the suite on each major) */
      if (inside) return original.apply(this, args)
      inside = true
      const start = performance.now()
      let pending: unknown
      try {
        pending = original.apply(this, args)
      } finally {
        inside = false
      }
      return settled(sink, start, pending)
    }
  }, skip)
  const multi = meterMulti(target as Record<string, unknown>, sink)
  return () => {
    multi()
    remove()
  }
}

/* c8 ignore start -- node-redis 5 and 6 only (4 has no _self): test/metrics.test.ts runs this there (.ci/run runs the suite on each major) */
/** Reports a command's reply or failure to `sink`; never rejects (the caller gets `pending` itself and handles it). */
async function observe (sink: CommandSink, start: number, pending: unknown): Promise<void> {
  try {
    await pending
    sink.done(start)
  } catch (err) {
    sink.failed(start, err)
  }
}

/** What node-redis 5 and 6 send every command through: their client's real object (`_self`), below the wrappers. */
interface CommandPath {
  sendCommand (args: unknown, options: unknown): unknown
  _executeCommand: unknown
}

/**
 * A node-redis 5 or 6 client: every command method, every wrapper
 * (`withTypeMapping()`…) and `sendCommand()` itself go through one method,
 * `_self.sendCommand()`, which node-redis's own code awaits. The plugin
 * times that one, where the layer would wrap each command method and give
 * the caller a promise of its own: per command, no arguments array, no
 * extra promise in the caller's chain (measured in docs/benchmarks.md#metrics).
 * MULTI and pipelines skip it (they write to the queue): meterMulti() times
 * their exec().
 */
function meterSendCommand (exposed: object, self: CommandPath, sink: CommandSink): () => void {
  const own = Object.getOwnPropertyDescriptor(self, 'sendCommand')
  const original = self.sendCommand
  // Its two parameters, not a rest array: sendCommand(args, options) on 5 and 6.
  const metered = function (this: unknown, args: unknown, options: unknown): unknown {
    const start = performance.now()
    const pending = original.call(this, args, options)
    // Not awaited (and it never rejects): node-redis, or the caller of sendCommand(), handles `pending`.
    observe(sink, start, pending)
    return pending
  }
  self.sendCommand = metered
  const multi = meterMulti(exposed as Record<string, unknown>, sink)
  return () => {
    multi()
    if (self.sendCommand !== metered) return
    if (own === undefined) delete (self as Partial<CommandPath>).sendCommand
    else Object.defineProperty(self, 'sendCommand', own)
  }
}
/* c8 ignore stop */

const SINK = Symbol('fastify-node-redis.sink')
const START = Symbol('fastify-node-redis.start')
/** What node-redis 5.12+ and 6 publish on `node-redis:command` (the fields read here), plus what the plugin adds. */
interface TraceContext { clientId?: string, batchMode?: string, [SINK]?: CommandSink, [START]?: number }

/** The sinks of the clients whose commands are traced, by node-redis client id. */
const traced = new Map<string, CommandSink>()
const commandTraces = dc.tracingChannel('node-redis:command')
/* c8 ignore start -- node-redis 5.12+ and 6 only (4 publishes no command traces): test/metrics.test.ts runs this there (.ci/run runs the suite on each major) */
// Only the events read: Node calls the handlers given and skips the others (its types want all five).
const handlers = {
  start (context: TraceContext): void {
    // A pipeline's commands are traced one by one: the pipeline counts once, at its exec().
    if (context.batchMode !== undefined) return
    const sink = traced.get(context.clientId!)
    if (sink === undefined) return
    context[SINK] = sink
    context[START] = performance.now()
  },
  asyncEnd (context: TraceContext & { error?: unknown }): void {
    const sink = context[SINK]
    if (sink === undefined) return
    if ('error' in context) sink.failed(context[START]!, context.error)
    else sink.done(context[START]!)
  }
} as unknown as dc.TracingChannelSubscribers<object>

/**
 * node-redis 5.12+ and 6 trace every command on the diagnostics channel
 * `node-redis:command`, with the id of the client that sent it: one
 * subscription for the process while a connection reads it, matched to the
 * connection by that id.
 */
function meterTraced (client: { _clientId: string }, sink: CommandSink): () => void {
  if (traced.size === 0) commandTraces.subscribe(handlers)
  const id = client._clientId
  traced.set(id, sink)
  const multi = meterMulti(client as unknown as Record<string, unknown>, sink)
  return () => {
    multi()
    traced.delete(id)
    if (traced.size === 0) commandTraces.unsubscribe(handlers)
  }
}

/* c8 ignore stop */

/**
 * Hooks the command path of a connection for its metrics, by what the
 * object built can do, and returns what undoes it: node-redis's command
 * traces where a single client has them and the channel already has a
 * subscriber (an OpenTelemetry instrumentation, another tracer, or the
 * plugin for an earlier connection); the plugin's own layer otherwise.
 * While the channel has a subscriber, node-redis builds a trace context for
 * every command of every client in the process, so reading it then costs
 * only the handler; subscribing to it first would cost more than the layer
 * (measured per GET: about 4.6 µs on node-redis 6 and 1.8 µs on 5.12,
 * against 1.5 µs and 0.6 µs for the layer; docs/metrics.md#cost).
 */
export function instrument (exposed: object, sink: CommandSink): () => void {
  const driver = driverOf(exposed)
  if (!(driver instanceof ClientDriver)) return meterMethods(exposed, sink)
  const id = (exposed as { _clientId?: unknown })._clientId
  /* c8 ignore next -- node-redis 5.12+ and 6 give a client an id (and trace its commands); 4 has neither (.ci/run runs the suite on each major) */
  if (typeof id === 'string' && commandTraces.hasSubscribers) return meterTraced(exposed as { _clientId: string }, sink)
  // A subscriber: the layer for its few other commands (PING); SubscriberDriver.meter() times (un)subscribe calls.
  if (driver instanceof SubscriberDriver) return meterMethods(exposed, sink, PUBSUB_METHODS)
  const self = (exposed as { _self?: Partial<CommandPath> })._self
  /* c8 ignore next -- node-redis 5 and 6 (4 has no _self; its commands take a private path, so the layer times them): .ci/run runs the suite on each major */
  if (typeof self?.sendCommand === 'function' && typeof self._executeCommand === 'function') return meterSendCommand(exposed, self as CommandPath, sink)
  return meterMethods(exposed, sink)
}
