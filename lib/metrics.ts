import type { FastifyInstance } from 'fastify'
import { instrument, type CommandSink } from './driver/metering'
import type { ConnectionSpec } from './options'
import { register } from './prometheus'

/** Upper bounds of the command latency buckets, in milliseconds. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000])

/** One connection's metrics, as `redisMetrics()` reports them: plain, JSON-serialisable. */
export interface RedisConnectionMetrics {
  enabled: true
  /** `new`: not started yet; `ready`: connected; `down`: lost, or not connected yet, and reconnecting. */
  state: 'new' | 'ready' | 'down'
  /** Commands sent: each command call, `sendCommand()`, and each `exec()` of a MULTI or pipeline (see docs/metrics.md). */
  commands: number
  /** Commands that failed, by error class: the constructor name (`ErrorReply`, `ClientOfflineError`…), or the `code` of a plain `Error`. */
  errors: Record<string, number>
  /** Command latency, from the call to its answer (or failure). */
  latency: {
    /** Upper bounds of the buckets, in ms. */
    bucketsMs: number[]
    /** Cumulative: `counts[i]` commands took at most `bucketsMs[i]` ms. */
    counts: number[]
    sumMs: number
    /** Every command measured (the `+Inf` bucket). */
    count: number
  }
  /** Times the connection came back after it had been ready and was lost. */
  reconnects: number
  /** Milliseconds spent down since startup, the current outage included. */
  downMs: number
  /** Subscriber connections: channels (and patterns) held now; 0 otherwise. */
  channels: number
  /** Subscriber connections: messages handed to listeners (one per listener called); 0 otherwise. */
  messages: number
}

/** What `redisMetrics()` says of a connection registered without `metrics`. */
export interface RedisConnectionMetricsOff { enabled: false }

/** Every connection a context can see, by name. */
export interface RedisMetrics {
  connections: Record<string, RedisConnectionMetrics | RedisConnectionMetricsOff>
}

/** The class of a failed command's error, for the `errors` breakdown: bounded, never the message. */
export function errorClass (err: unknown): string {
  if (typeof err !== 'object' || err === null) return typeof err
  const name = (err as { constructor?: { name?: unknown } }).constructor?.name
  const code = (err as { code?: unknown }).code
  if (name === 'Error' && typeof code === 'string') return code
  return typeof name === 'string' && name !== '' ? name : 'Error'
}

/**
 * One connection's counters. The per-command path (`done`, `failed`) does
 * arithmetic on numbers and typed arrays only; everything else happens on a
 * state change or when read.
 */
export class ConnectionMetrics implements CommandSink {
  commands = 0
  readonly errors = new Map<string, number>()
  /** Non-cumulative per bucket; the last slot is above the largest bound. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1)
  sumMs = 0
  reconnects = 0
  state: 'new' | 'ready' | 'down' = 'new'
  channels = 0
  messages = 0
  private downMs = 0
  private downSince = 0
  private wasReady = false
  /** Stops the command hook and the Prometheus collectors. */
  private readonly stops: Array<() => void> = []

  constructor (readonly name: string) {}

  /** A command answered; `start` is the `performance.now()` of its call. */
  done (start: number): void {
    this.commands++
    this.observe(performance.now() - start)
  }

  /** A command failed with `err`. */
  failed (start: number, err: unknown): void {
    this.commands++
    this.observe(performance.now() - start)
    const key = errorClass(err)
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1)
  }

  private observe (ms: number): void {
    this.sumMs += ms
    let i = 0
    while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]) i++
    this.buckets[i]++
  }

  /** The connection was lost (or could not connect yet); called once per outage. */
  down (): void {
    this.state = 'down'
    this.downSince = Date.now()
  }

  /** The connection is ready: at startup, or back after being down. */
  ready (): void {
    if (this.state === 'down') {
      this.downMs += Date.now() - this.downSince
      if (this.wasReady) this.reconnects++
    }
    this.state = 'ready'
    this.wasReady = true
  }

  /** Subscriber connections: the channels and patterns held now. */
  subscriptions (count: number): void {
    this.channels = count
  }

  /** Subscriber connections: one message received. */
  message (): void {
    this.messages++
  }

  /** Milliseconds spent down, the current outage up to now included. */
  downTime (): number {
    return this.downMs + (this.state === 'down' ? Date.now() - this.downSince : 0)
  }

  snapshot (): RedisConnectionMetrics {
    const counts: number[] = []
    let running = 0
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) counts.push(running += this.buckets[i])
    return {
      enabled: true,
      state: this.state,
      commands: this.commands,
      errors: Object.fromEntries(this.errors),
      latency: { bucketsMs: [...LATENCY_BUCKETS_MS], counts, sumMs: this.sumMs, count: running + this.buckets[LATENCY_BUCKETS_MS.length] },
      reconnects: this.reconnects,
      downMs: this.downTime(),
      channels: this.channels,
      messages: this.messages
    }
  }

  /** Runs `stop` when the connection closes. */
  onStop (stop: () => void): void {
    this.stops.push(stop)
  }

  /** The connection closed (or failed to start): no more counting, no more reporting. */
  stop (): void {
    for (const stop of this.stops.splice(0)) stop()
  }
}

const byExposed = new WeakMap<object, ConnectionMetrics>()

/** The metrics of a client or cluster `fastify.redis` holds, when they are on. */
export function metricsOf (exposed: object): ConnectionMetrics | undefined {
  return byExposed.get(exposed)
}

/**
 * The metrics of a new connection, or undefined when they are off (the
 * default: then nothing is wrapped, listened to or subscribed). Hooks the
 * command path of `exposed` and, with a registry, registers the Prometheus
 * collectors.
 */
export function metricsFor (spec: ConnectionSpec, exposed: object): ConnectionMetrics | undefined {
  if (spec.metrics === false) return undefined
  const metrics = new ConnectionMetrics(spec.name)
  // The registry first: it may refuse (a name taken), and then nothing is hooked.
  if (spec.metrics !== true) metrics.onStop(register(spec.metrics, metrics))
  metrics.onStop(instrument(exposed, metrics))
  byExposed.set(exposed, metrics)
  return metrics
}

/**
 * The metrics of every connection `fastify` can see (its own and its
 * ancestors'), as plain JSON: `{ connections: { <name>: { enabled, state,
 * commands, errors, latency, reconnects, downMs, channels, messages } } }`;
 * a connection registered without `metrics` is `{ enabled: false }`.
 */
export function redisMetrics (fastify: FastifyInstance): RedisMetrics {
  const registry = (fastify as unknown as { redis?: Record<string, object> }).redis ?? {}
  const connections: RedisMetrics['connections'] = {}
  // for…in: the registry inherits the connections of parent contexts.
  for (const name in registry) connections[name] = metricsOf(registry[name])?.snapshot() ?? { enabled: false }
  return { connections }
}
