// `npm run bench`: fastify-node-redis against its baselines, in one run.
//
// Processes. On a 2-core machine the load generator and the server under test
// must not share an event loop: autocannon in the same process would take
// about half of the server's CPU and cap every setup at the same ceiling. So
// this process only generates load (autocannon, programmatic) and reports;
// every setup is a Fastify app in its own child process (server.ts), and
// redis-server is a third process, ours, on a free port. All setup processes
// are started once and stay up, idle while another is loaded, so each trial
// meets a warm JIT. The OS spreads the three busy processes over the two
// cores, as it would in production; none is pinned.
//
// Drift (thermal, turbo, neighbours, a shared VM) is cancelled by
// alternating: each round runs every trial once, in serpentine order, and
// ratios are taken per round, between trials that ran back to back, before
// the median over rounds is printed. The server's own CPU time per request is
// recorded too: it depends far less than req/s on what else the machine runs.
//
// Startup, close and memory are sampled in fresh processes (startup.ts),
// allocation per `this.redis.<name>` read in another (alloc.ts); see there.
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { createHistogram } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { createClient } from 'redis'
import {
  type AllocSample, EXAMPLE_APP, EXAMPLE_PATH, GET_KEY, GET_PATH, PUT_PATH, PUT_SETUPS, RESULTS_DIR,
  type ServerMessage, type SetupId, SETUPS, type StartupSample, THING, TTL
} from './common'
import { startRedisServer, type BenchRedis } from './redis-server'

// ---------------------------------------------------------------- settings

const quick = process.argv.includes('--quick') || isTrue(process.env.BENCH_QUICK)

function isTrue (value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value)
}

function numberFrom (name: string, fallback: number, min: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`)
  return value
}

const settings = {
  /** Seconds of measured load per trial. */
  duration: numberFrom('BENCH_DURATION', quick ? 1 : 2, 0.1),
  /** Seconds of unmeasured load before each trial (the servers stay up, so their JIT is warm after round 1). */
  warmup: numberFrom('BENCH_WARMUP', quick ? 0.3 : 0.5, 0),
  /** More, shorter rounds pair the trials more tightly in time than fewer, longer ones. */
  rounds: Math.round(numberFrom('BENCH_ROUNDS', quick ? 2 : 7, 1)),
  connections: Math.round(numberFrom('BENCH_CONNECTIONS', 50, 1)),
  /** Fresh pairs of processes for each paired measurement (see pairedPhase; 0: none)… */
  pairedProcesses: Math.round(numberFrom('BENCH_PAIRED_PROCESSES', quick ? 1 : 5, 0)),
  /** …rounds in each pair… */
  pairedRounds: Math.round(numberFrom('BENCH_PAIRED_ROUNDS', quick ? 1 : 3, 0)),
  /** …seconds of measured load per round… */
  pairedDuration: numberFrom('BENCH_PAIRED_DURATION', quick ? 1 : 6, 0.1),
  /** …and requests per second sent to each of the two servers. */
  pairedRate: Math.round(numberFrom('BENCH_PAIRED_RATE', 2500, 1)),
  /** Fresh processes per startup/close measurement… */
  startupProcesses: Math.round(numberFrom('BENCH_STARTUP_PROCESSES', quick ? 1 : 3, 1)),
  /** …and samples in each process, after its warmup. */
  startupRepeats: Math.round(numberFrom('BENCH_STARTUP_REPEATS', quick ? 2 : 5, 1)),
  /** Only these setups (comma-separated ids: ceiling,hand,plugin,metrics,ioredis,example). */
  only: process.env.BENCH_SETUPS?.split(',').map((s) => s.trim()).filter(Boolean),
  /** Write a V8 CPU profile of every server process to .bench/profiles/<setup>/ (open in Chrome DevTools). */
  cpuProf: isTrue(process.env.BENCH_CPU_PROF),
  /** Exit with 1 when a target is missed. */
  strict: isTrue(process.env.BENCH_STRICT)
}

const TARGETS = {
  pluginVsHand: 0.97,
  pluginVsIoredis: 1.5,
  /** The example app's GET /things, in server CPU per request against the plugin's bench route. */
  exampleVsPluginCpu: 0.8,
  /** Metrics on against off, in server CPU per request (off / on, measured together: pairedPhase): at most 3% more CPU per request. */
  metricsVsPluginCpu: 1 / 1.03,
  startupOverheadMs: 5,
  close100Ms: 1000
}
const STARTUP_SIZES = [1, 10, 100]

// ---------------------------------------------------------------- processes

const children = new Set<ChildProcess>()
let redis: BenchRedis | undefined

function cleanup (): void {
  for (const child of children) child.kill('SIGKILL')
  children.clear()
  redis?.stop()
  redis = undefined
}
process.on('exit', cleanup)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the servers and redis-server`)
    cleanup()
    process.exit(130)
  })
}

function forkChild (file: string, args: string[], options: { gc?: boolean, cpuProfDir?: string } = {}): ChildProcess {
  const execArgv = [...process.execArgv]
  if (options.gc === true) execArgv.push('--expose-gc')
  if (options.cpuProfDir !== undefined) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`)
  const child = fork(join(__dirname, file), args, {
    execArgv,
    env: { ...process.env, BENCH_REDIS_URL: redis!.url },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** The first message of a child, or its failure. */
async function firstMessage<T> (child: ChildProcess, what: string, timeoutMs = 60_000): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    child.once('message', (message) => { clearTimeout(timer); resolve(message as T) })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${what}: exited (${code ?? signal}) without an answer`))
    })
  })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // The child may be exiting on its own: a failed send is no error here.
  if (child.connected) child.send('close', () => {})
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

interface Server { id: SetupId, label: string, port: number, child: ChildProcess }

async function startServer (id: SetupId, label: string): Promise<Server | string> {
  const child = forkChild('server.ts', [id], settings.cpuProf ? { cpuProfDir: join(RESULTS_DIR, 'profiles', id) } : {})
  const message = await firstMessage<ServerMessage>(child, `server ${id}`)
  if (message.type === 'listening') return { id, label, port: message.port, child }
  await stopChild(child)
  if (message.type === 'skip') return message.reason
  throw new Error(`server ${id} failed to start:\n${message.type === 'error' ? message.message : JSON.stringify(message)}`)
}

// ---------------------------------------------------------------- load

interface Load { method: 'GET' | 'PUT', path: string, body?: string }

function loadOf (server: Server, method: 'GET' | 'PUT'): Load {
  if (method === 'PUT') return { method, path: PUT_PATH, body: JSON.stringify(THING) }
  return { method, path: server.id === 'example' ? EXAMPLE_PATH : GET_PATH }
}

/** One request by hand, so a setup that answers wrongly is caught before it is timed. */
async function check (server: Server, load: Load): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${server.port}${load.path}`, {
    method: load.method,
    ...(load.body !== undefined && { body: load.body, headers: { 'content-type': 'application/json' } })
  })
  const body = await response.text()
  let parsed: Record<string, unknown> | undefined
  try { parsed = JSON.parse(body) } catch {}
  const expected = load.method === 'PUT' ? 201 : 200
  if (response.status !== expected || parsed?.name !== THING.name || typeof parsed?.ttl !== 'number') {
    throw new Error(`${server.label}: ${load.method} ${load.path} answered ${response.status} ${body}`)
  }
}

interface Trial {
  rps: number
  p50: number
  p99: number
  /** CPU time (user + system) the server process spent per request, in microseconds. */
  cpuPerRequest: number
  /** Share of one core the server process used during the trial. */
  cpuShare: number
  failures: number
}

/** CPU time the server process has used so far, in microseconds, asked over IPC. */
async function cpuOf (server: Server): Promise<number> {
  const { child } = server
  return await new Promise<number>((resolve, reject) => {
    const onMessage = (message: ServerMessage): void => {
      if (message.type !== 'cpu') return
      done()
      resolve(message.micros)
    }
    const onExit = (): void => {
      done()
      reject(new Error(`${server.label} exited`))
    }
    const done = (): void => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
    child.send('cpu')
  })
}

/**
 * One autocannon run. Latency is recorded here from autocannon's per-response
 * event, in microseconds: its own histogram keeps whole milliseconds, too
 * coarse for sub-millisecond loopback latencies. `rate`: requests per
 * second over all connections; 0 is as fast as the server answers.
 */
async function fire (server: Server, load: Load, duration: number, rate = 0): Promise<Trial> {
  const histogram = createHistogram()
  const cpuBefore = await cpuOf(server)
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: `http://127.0.0.1:${server.port}${load.path}`,
      method: load.method,
      connections: settings.connections,
      pipelining: 1,
      duration,
      ...(rate > 0 && { overallRate: rate }),
      ...(load.body !== undefined && { body: load.body, headers: { 'content-type': 'application/json' } })
    }, (err, res) => { if (err !== null) reject(err); else resolve(res) })
    instance.on('response', (_client, statusCode, _bytes, latencyMs) => {
      if (statusCode < 300) histogram.record(Math.max(1, Math.round(latencyMs * 1000)))
    })
  })
  const cpu = await cpuOf(server) - cpuBefore
  return {
    rps: result.requests.total / result.duration,
    p50: histogram.percentile(50) / 1000,
    p99: histogram.percentile(99) / 1000,
    cpuPerRequest: cpu / result.requests.total,
    cpuShare: cpu / (result.duration * 1e6),
    failures: result.errors + result.timeouts + result.non2xx
  }
}

// ---------------------------------------------------------------- statistics

function median (values: number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** A plain-text table; `align` has one letter per column, l or r (default: first left, others right). */
function table (header: string[], rows: string[][], align = 'l' + 'r'.repeat(header.length - 1)): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => align[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i])).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

const int = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
const fixed = (n: number, digits = 2): string => Number.isFinite(n) ? n.toFixed(digits) : 'n/a'
const kib = (bytes: number): string => Number.isFinite(bytes) ? (bytes / 1024).toFixed(1) : 'n/a'

interface Verdict { name: string, value: string, target: string, pass: boolean }

// ---------------------------------------------------------------- phases

async function prepare (url: string): Promise<void> {
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  await client.multi().del(GET_KEY).hSet(GET_KEY, { ...THING }).expire(GET_KEY, TTL).exec()
  await client.quit()
}

/** Whether the example app's thing landed in our redis-server (and so not in anyone else's). */
async function exampleUsesOurRedis (url: string): Promise<boolean> {
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  const found = await client.exists(`thing:${EXAMPLE_PATH.slice('/things/'.length)}`)
  await client.quit()
  return found === 1
}

type TrialKey = `${'GET' | 'PUT'} ${SetupId}`

async function loadPhase (): Promise<{ servers: Server[], trials: Map<TrialKey, Trial[]>, skipped: string[] }> {
  const servers: Server[] = []
  const skipped: string[] = []
  for (const { id, label } of SETUPS) {
    if (settings.only !== undefined && !settings.only.includes(id)) continue
    const started = await startServer(id, label)
    if (typeof started === 'string') {
      skipped.push(`${label}: skipped, ${started}`)
      continue
    }
    if (id === 'example' && !await exampleUsesOurRedis(redis!.url)) {
      await stopChild(started.child)
      throw new Error(`the example app did not store its thing in the benchmark's redis-server: does the build() of ${EXAMPLE_APP} still take { config: { REDIS_URL, SESSIONS_URL, … }, env: false }?`)
    }
    servers.push(started)
  }
  const plan: Array<{ server: Server, load: Load, key: TrialKey }> = []
  for (const server of servers) plan.push({ server, load: loadOf(server, 'GET'), key: `GET ${server.id}` })
  for (const server of servers) {
    if (PUT_SETUPS.includes(server.id)) plan.push({ server, load: loadOf(server, 'PUT'), key: `PUT ${server.id}` })
  }
  for (const { server, load } of plan) await check(server, load)

  const trials = new Map<TrialKey, Trial[]>()
  for (let round = 0; round < settings.rounds; round++) {
    console.log(`\nround ${round + 1}/${settings.rounds}`)
    // Serpentine order (forward, then backward): setups next to each other in
    // the plan (hand-wired, plugin, @fastify/redis) are always timed back to
    // back, each first in half of the rounds.
    for (const { server, load, key } of round % 2 === 0 ? plan : [...plan].reverse()) {
      if (settings.warmup > 0) await fire(server, load, settings.warmup)
      const trial = await fire(server, load, settings.duration)
      const list = trials.get(key) ?? []
      list.push(trial)
      trials.set(key, list)
      console.log(`  ${load.method} ${server.label.padEnd(34)} ${int(trial.rps).padStart(9)} req/s  p50 ${fixed(trial.p50)} ms  p99 ${fixed(trial.p99)} ms` +
        `  server ${fixed(trial.cpuPerRequest, 1)} µs CPU/req, ${Math.round(trial.cpuShare * 100)}% of a core` +
        (trial.failures > 0 ? `  (${trial.failures} errors/non-2xx!)` : ''))
    }
  }
  return { servers, trials, skipped }
}

/** Pins every thread of process `pid` to the CPUs listed (`0`, `1-3`); false where taskset cannot. */
function pin (pid: number, list: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' }).status === 0
}

interface Pair { a: Trial, b: Trial, /** Which pair of processes (from 0). */ processes: number }

/** A target checked on setups loaded together: b's server CPU per request over a's (how many times less a request costs with a). */
interface Comparison { name: string, a: SetupId, b: SetupId, target: number }

const PAIRED: readonly Comparison[] = [
  { name: 'plugin / hand-wired', a: 'plugin', b: 'hand', target: TARGETS.pluginVsHand },
  { name: 'example app / plugin', a: 'example', b: 'plugin', target: TARGETS.exampleVsPluginCpu },
  { name: 'metrics / plugin', a: 'metrics', b: 'plugin', target: TARGETS.metricsVsPluginCpu }
]

/**
 * Two setups measured together: both servers loaded at the same time, at
 * the same fixed rate below what either can serve, and pinned to the same
 * CPU, away from the load generator and redis-server. Whatever slows the
 * machine during a round (a neighbour on the host, a frequency step,
 * another process) falls on both at once, and the ratio of their CPU per
 * request cancels it; trials one after the other, at full load, meet
 * different moments and batch requests differently. What a round cannot
 * cancel is the process itself: two processes of the same code settle into
 * CPU costs a few percent apart (how V8 compiled them, where their heaps
 * lie) and stay there, so the rounds are spread over several fresh pairs of
 * processes, and the median is taken over all of them.
 */
async function pairedPhase ({ name, a: idA, b: idB }: Comparison, cpu: string | undefined): Promise<Pair[]> {
  const rate = settings.pairedRate
  console.log(`\n${name}, loaded together at ${rate} req/s each: ${settings.pairedProcesses} fresh pair${settings.pairedProcesses === 1 ? '' : 's'} ` +
    `of processes, ${settings.pairedRounds} round${settings.pairedRounds === 1 ? '' : 's'} of ${settings.pairedDuration} s each`)
  const pairs: Pair[] = []
  for (let processes = 0; processes < settings.pairedProcesses; processes++) {
    // Which of the two starts first, and is loaded first in a round, alternates: an A/A run
    // (both without metrics) that always put the same one first saw it cost 2.6% more.
    const aFirst = processes % 2 === 0
    const first = await startServer(aFirst ? idA : idB, 'paired')
    const second = await startServer(aFirst ? idB : idA, 'paired')
    const [a, b] = aFirst ? [first, second] : [second, first]
    if (typeof a === 'string' || typeof b === 'string') throw new Error(`the paired servers did not start: ${String(a)}, ${String(b)}`)
    try {
      await check(a, loadOf(a, 'GET'))
      await check(b, loadOf(b, 'GET'))
      if (cpu !== undefined) for (const s of [a, b]) pin(s.child.pid!, cpu)
      const both = async (duration: number, round: number): Promise<[Trial, Trial]> => {
        const order = (processes + round) % 2 === 0 ? [a, b] : [b, a]
        const [x, y] = await Promise.all(order.map(async (s) => await fire(s, loadOf(s, 'GET'), duration, rate)))
        return order[0] === a ? [x, y] : [y, x]
      }
      // Fresh processes: a longer warmup, for V8 to compile what the load runs.
      await both(Math.max(2, settings.warmup), 0)
      for (let round = 0; round < settings.pairedRounds; round++) {
        if (round > 0 && settings.warmup > 0) await both(settings.warmup, round)
        const [ta, tb] = await both(settings.pairedDuration, round)
        pairs.push({ a: ta, b: tb, processes })
        const failures = ta.failures + tb.failures
        console.log(`  processes ${processes + 1}/${settings.pairedProcesses}, round ${round + 1}/${settings.pairedRounds}: server CPU/req ` +
          `${idA} ${fixed(ta.cpuPerRequest, 1)} µs, ${idB} ${fixed(tb.cpuPerRequest, 1)} µs: ${fixed(tb.cpuPerRequest / ta.cpuPerRequest, 3)}×` +
          (failures > 0 ? `  (${failures} errors/non-2xx!)` : ''))
      }
    } finally {
      await Promise.all([stopChild(a.child), stopChild(b.child)])
    }
  }
  return pairs
}

/** The paired measurements of the comparisons whose setups both started in the load phase. */
async function pairedPhases (servers: Server[]): Promise<Map<string, Pair[]>> {
  const results = new Map<string, Pair[]>()
  if (settings.pairedProcesses === 0 || settings.pairedRounds === 0) return results
  const started = new Set(servers.map((s) => s.id))
  const comparisons = PAIRED.filter((c) => started.has(c.a) && started.has(c.b))
  if (comparisons.length === 0) return results
  const count = cpus().length
  const all = `0-${count - 1}`
  const others = `0-${count - 2}`
  // The servers of a pair get the last CPU (pairedPhase); this process and redis-server the others.
  const pinned = count >= 2 && pin(process.pid, others) && pin(redis!.pid, others)
  console.log(pinned ? `\nservers measured together are pinned to CPU ${count - 1}, this process and redis-server to ${others}` : '\nservers measured together are not pinned: one CPU, or taskset failed')
  try {
    for (const comparison of comparisons) results.set(comparison.name, await pairedPhase(comparison, pinned ? String(count - 1) : undefined))
  } finally {
    // Later phases fork fresh processes from this one: they get every CPU again.
    if (count >= 2) pin(process.pid, all) && pin(redis!.pid, all)
  }
  return results
}

async function startupPhase (): Promise<StartupSample[]> {
  const samples: StartupSample[] = []
  const runs: Array<[StartupSample['kind'], number]> = [['empty', 0]]
  for (const n of STARTUP_SIZES) runs.push(['hand', n], ['plugin', n])
  for (let repeat = 0; repeat < settings.startupProcesses; repeat++) {
    for (const [kind, n] of runs) {
      const child = forkChild('startup.ts', [kind, String(n), String(settings.startupRepeats)], { gc: true })
      samples.push(...await firstMessage<StartupSample[]>(child, `startup samples ${kind} ${n}`))
      await stopChild(child)
    }
  }
  return samples
}

async function allocPhase (): Promise<AllocSample[]> {
  const child = forkChild('alloc.ts', [], { gc: true })
  const samples = await firstMessage<AllocSample[]>(child, 'allocation check')
  await stopChild(child)
  return samples
}

// ---------------------------------------------------------------- report

function reportLoad (servers: Server[], trials: Map<TrialKey, Trial[]>, skipped: string[], paired: ReadonlySet<string>): Verdict[] {
  const verdicts: Verdict[] = []
  const med = (key: TrialKey, field: keyof Trial): number => median((trials.get(key) ?? []).map((t) => t[field]))
  /** Per-round ratios of a to b: req/s a/b, or server CPU per request b/a. */
  const perRound = (a: TrialKey, b: TrialKey, of: (x: Trial, y: Trial) => number): number[] => {
    const as = trials.get(a) ?? []
    const bs = trials.get(b) ?? []
    return as.slice(0, bs.length).map((t, i) => of(t, bs[i]))
  }
  const throughput = (x: Trial, y: Trial): number => x.rps / y.rps
  const efficiency = (x: Trial, y: Trial): number => y.cpuPerRequest / x.cpuPerRequest
  const header = `${settings.connections} connections, pipelining 1, ${settings.duration} s per trial after ${settings.warmup} s warmup, ` +
    `${settings.rounds} round${settings.rounds === 1 ? '' : 's'}; medians over rounds`

  for (const method of ['GET', 'PUT'] as const) {
    const rows: string[][] = []
    for (const server of servers) {
      const key: TrialKey = `${method} ${server.id}`
      if (!trials.has(key)) continue
      const failures = (trials.get(key) ?? []).reduce((sum, t) => sum + t.failures, 0)
      const label = failures === 0 ? server.label : `${server.label} (${failures} errors/non-2xx!)`
      rows.push([label, int(med(key, 'rps')), fixed(med(key, 'p50')), fixed(med(key, 'p99')),
        fixed(med(key, 'cpuPerRequest'), 1), `${Math.round(med(key, 'cpuShare') * 100)}%`])
    }
    if (rows.length === 0) continue
    console.log(method === 'GET'
      ? `\nGET /things/<path>: HGETALL + TTL of a 5-field hash (${header})\n`
      : `\nPUT /things/<path>: MULTI DEL + HSET + EXPIRE of 5 fields (${header})\n`)
    console.log(table(['setup', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'server CPU'], rows))
    if (method === 'GET') for (const line of skipped) console.log(line)

    const has = (id: SetupId): boolean => trials.has(`${method} ${id}`)
    const ratios: string[][] = []
    const add = (name: string, a: SetupId, b: SetupId, target?: number, cpuTarget?: number): void => {
      if (!has(a) || !has(b)) return
      const rounds = perRound(`${method} ${a}`, `${method} ${b}`, throughput)
      const value = median(rounds)
      const cpu = median(perRound(`${method} ${a}`, `${method} ${b}`, efficiency))
      let verdict = ''
      if (target !== undefined) {
        const pass = value >= target
        verdict = `${pass ? 'PASS' : 'FAIL'} (target ≥ ${target}×)`
        if (method === 'GET') verdicts.push({ name: `GET ${name}`, value: `${fixed(value)}×`, target: `≥ ${target}×`, pass })
      }
      // A target measured together too is checked there (reportPaired): here it is informative.
      if (paired.has(name)) cpuTarget = undefined
      if (cpuTarget !== undefined && method === 'GET') {
        const pass = cpu >= cpuTarget
        verdict = `${pass ? 'PASS' : 'FAIL'} (target ≥ ${cpuTarget}× on CPU/req)`
        verdicts.push({ name: `GET ${name}, server CPU per request`, value: `${fixed(cpu)}×`, target: `≥ ${cpuTarget}×`, pass })
      }
      ratios.push([name, `${fixed(value)}×`, `${fixed(Math.min(...rounds))}–${fixed(Math.max(...rounds))}`, `${fixed(cpu)}×`, verdict])
    }
    // Targets on server CPU per request: steadier than req/s on 2 shared cores.
    add('plugin / hand-wired', 'plugin', 'hand', undefined, TARGETS.pluginVsHand)
    // node-redis 5 and 6 cost more CPU per request than 4 (and than ioredis) by themselves:
    // against @fastify/redis the target is node-redis 4's; on the others the ratio is informative.
    add('plugin / @fastify/redis', 'plugin', 'ioredis', undefined, nodeRedisVersion().startsWith('4.') ? TARGETS.pluginVsIoredis : undefined)
    add('plugin / ceiling', 'plugin', 'ceiling')
    add('hand-wired / ceiling', 'hand', 'ceiling')
    add('example app / plugin', 'example', 'plugin', undefined, TARGETS.exampleVsPluginCpu)
    add('metrics / plugin', 'metrics', 'plugin', undefined, TARGETS.metricsVsPluginCpu)
    if (ratios.length > 0) {
      console.log(`\n${method} ratios (per round, median over rounds):\n`)
      console.log(table(['ratio', 'req/s', 'rounds min–max', 'CPU/req (inverse)', method === 'GET' ? 'target (on CPU/req)' : 'target (informative for PUT)'], ratios, 'lrrrl'))
      if (method === 'GET') {
        console.log('\n  req/s: a/b of throughput, median of the per-round ratios (their range next to it shows the noise).\n' +
          '  CPU/req (inverse): b/a of the server process\'s CPU time per request, i.e. how many times less CPU a request\n' +
          '  costs with a; less sensitive than req/s to other processes competing for the cores.')
      }
    }
  }
  return verdicts
}

function reportPaired (results: Map<string, Pair[]>): Verdict[] {
  const verdicts: Verdict[] = []
  for (const { name, a, b, target } of PAIRED) {
    const pairs = results.get(name)
    if (pairs === undefined || pairs.length === 0) continue
    const ratios = pairs.map((p) => p.b.cpuPerRequest / p.a.cpuPerRequest)
    const value = median(ratios)
    const failures = pairs.reduce((sum, p) => sum + p.a.failures + p.b.failures, 0)
    console.log(`\nGET ${name}, loaded together (${pairs.length} round${pairs.length === 1 ? '' : 's'} of ${settings.pairedDuration} s at ` +
      `${settings.pairedRate} req/s each, over ${settings.pairedProcesses} pair${settings.pairedProcesses === 1 ? '' : 's'} of processes; medians over rounds)` +
      `${failures > 0 ? ` (${failures} errors/non-2xx!)` : ''}\n`)
    const row = (label: string, side: 'a' | 'b'): string[] => [label,
      fixed(median(pairs.map((p) => p[side].cpuPerRequest)), 1), fixed(median(pairs.map((p) => p[side].p50))), fixed(median(pairs.map((p) => p[side].p99)))]
    const label = (id: SetupId): string => SETUPS.find((s) => s.id === id)!.label
    console.log(table(['setup', 'server CPU µs/req', 'p50 ms', 'p99 ms'], [row(label(a), 'a'), row(label(b), 'b')]))
    const byProcesses = [...new Set(pairs.map((p) => p.processes))]
      .map((n) => fixed(median(pairs.filter((p) => p.processes === n).map((p) => p.b.cpuPerRequest / p.a.cpuPerRequest)), 3))
    console.log(`\n  CPU/req ${b} / ${a}, per round: median ${fixed(value, 3)}×, rounds ${fixed(Math.min(...ratios), 3)}–${fixed(Math.max(...ratios), 3)}` +
      ` (${a} costs ${fixed(Math.abs(1 / value - 1) * 100, 1)}% ${value <= 1 ? 'more' : 'less'} CPU per request); per pair of processes: ${byProcesses.join(', ')}`)
    verdicts.push({
      name: `GET ${name}, server CPU per request, loaded together`,
      value: `${fixed(value, 3)}×`,
      target: `≥ ${fixed(target, 3)}×`,
      pass: failures === 0 && value >= target
    })
  }
  return verdicts
}

function reportStartup (samples: StartupSample[]): Verdict[] {
  const med = (kind: StartupSample['kind'], n: number, field: 'startMs' | 'closeMs' | 'rssBytes' | 'heapBytes'): number =>
    median(samples.flatMap((s) => s.kind === kind && s.connections === n && s[field] !== undefined ? [s[field]] : []))
  const empty = { start: med('empty', 0, 'startMs'), close: med('empty', 0, 'closeMs'), rss: med('empty', 0, 'rssBytes'), heap: med('empty', 0, 'heapBytes') }
  const verdicts: Verdict[] = []
  const rows: string[][] = []
  const memory: string[][] = []
  let worstOverhead = -Infinity
  for (const n of STARTUP_SIZES) {
    const plugin = med('plugin', n, 'startMs')
    const hand = med('hand', n, 'startMs')
    // What the plugin adds per connection: its registration and ready time,
    // minus Fastify's own boot, minus the connect + PING round trips that
    // any client pays.
    const overhead = (plugin - empty.start - hand) / n
    worstOverhead = Math.max(worstOverhead, overhead)
    rows.push([String(n), fixed(plugin), fixed(hand), fixed(hand / n), fixed(overhead), fixed(med('plugin', n, 'closeMs')), fixed(med('hand', n, 'closeMs'))])
    memory.push([String(n),
      kib((med('plugin', n, 'rssBytes') - empty.rss) / n), kib((med('plugin', n, 'heapBytes') - empty.heap) / n),
      kib(med('hand', n, 'rssBytes') / n), kib(med('hand', n, 'heapBytes') / n)])
  }
  const count = settings.startupProcesses * settings.startupRepeats
  console.log(`\nStartup and close, serial as Fastify registers plugins (median of ${count} sample${count === 1 ? '' : 's'}: ` +
    `${settings.startupRepeats} in each of ${settings.startupProcesses} fresh process${settings.startupProcesses === 1 ? '' : 'es'}; ` +
    `empty Fastify: ready ${fixed(empty.start)} ms, close ${fixed(empty.close)} ms)\n`)
  console.log(table(['connections', 'plugin ready ms', 'hand-wired connect+PING ms', 'hand-wired per conn ms', 'overhead/conn ms', 'plugin close ms', 'hand-wired quit ms'], rows))
  console.log('\n  overhead/conn = (plugin ready − empty Fastify ready − hand-wired connect+PING) / connections')
  console.log(`\nMemory held per connection once ready, after a full GC (first sample of each process, median of ${settings.startupProcesses}; plugin: minus an empty Fastify app)\n`)
  console.log(table(['connections', 'plugin RSS KiB', 'plugin heap KiB', 'hand-wired RSS KiB', 'hand-wired heap KiB'], memory))

  verdicts.push({
    name: 'startup overhead per connection beyond connect round trip (worst of 1/10/100)',
    value: `${fixed(worstOverhead)} ms`,
    target: `≤ ${TARGETS.startupOverheadMs} ms`,
    pass: worstOverhead <= TARGETS.startupOverheadMs
  })
  const close100 = med('plugin', 100, 'closeMs')
  verdicts.push({ name: 'closing 100 connections', value: `${fixed(close100)} ms`, target: `< ${TARGETS.close100Ms} ms`, pass: close100 < TARGETS.close100Ms })
  return verdicts
}

function reportAlloc (samples: AllocSample[]): Verdict[] {
  console.log('\nAllocation per read of `this.redis.bench` in a handler (heapUsed around a warmed-up loop, --expose-gc)\n')
  console.log(table(['loop', 'bytes/read', 'GCs during loop'], samples.map((s) => [s.label, fixed(s.bytesPerRead, 4), String(s.gcs)])))
  const [reads, control] = samples
  // Any allocation is at least 16 bytes; 0.01 bytes/read over 10M reads is 100 KB of unrelated noise at most.
  const pass = reads.gcs === 0 && reads.bytesPerRead < 0.01
  const methodWorks = control.gcs > 0 || control.bytesPerRead >= 8
  return [{
    name: 'reading this.redis.<name> allocates nothing' + (methodWorks ? '' : ' (control saw no allocation: method inconclusive)'),
    value: `${fixed(reads.bytesPerRead, 4)} B/read, ${reads.gcs} GCs`,
    target: '0 B/read',
    pass: pass && methodWorks
  }]
}

// ---------------------------------------------------------------- main

/** The installed node-redis version. */
function nodeRedisVersion (): string {
  return (JSON.parse(readFileSync(join(dirname(require.resolve('redis')), '..', 'package.json'), 'utf8')) as { version: string }).version
}

/**
 * `BENCH_REDIS=6 npm run bench` runs the whole benchmark against another
 * node-redis major, in a copy of the checkout (.ci/with redis 6).
 */
function otherMajor (): number | undefined {
  const wanted = process.env.BENCH_REDIS
  if (wanted === undefined || wanted === '' || wanted === nodeRedisVersion().split('.')[0]) return undefined
  if (!/^[4-9]$/.test(wanted)) throw new Error(`BENCH_REDIS must be a node-redis major (4, 5 or 6), got ${JSON.stringify(wanted)}`)
  const run = spawnSync('bash', [join(__dirname, '..', '.ci', 'with'), 'redis', wanted, 'npm', 'run', 'bench'], { stdio: 'inherit' })
  return run.status ?? 1
}

async function main (): Promise<void> {
  const delegated = otherMajor()
  if (delegated !== undefined) {
    process.exitCode = delegated
    return
  }
  const started = Date.now()
  redis = await startRedisServer()
  const cpu = cpus()
  console.log('fastify-node-redis benchmark' + (quick ? ' (quick mode)' : ''))
  console.log(`machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, node-redis ${nodeRedisVersion()}, redis-server ${redis.version} on 127.0.0.1:${redis.port}`)
  const load = loadavg()[0]
  console.log(`load average before the run: ${load.toFixed(2)}` +
    (load > 0.5 ? ': other processes are busy, absolute numbers will be low and noisy (the per-round ratios suffer less)' : ''))
  await prepare(redis.url)

  const { servers, trials, skipped } = await loadPhase()
  await Promise.all(servers.map(async (s) => await stopChild(s.child)))
  const paired = await pairedPhases(servers)
  console.log('\nstartup and close samples…')
  const startup = await startupPhase()
  console.log('allocation check…')
  const alloc = await allocPhase()

  const verdicts = [...reportLoad(servers, trials, skipped, new Set(paired.keys())), ...reportPaired(paired), ...reportStartup(startup), ...reportAlloc(alloc)]
  console.log('\nTargets\n')
  console.log(table(['target', 'measured', 'wanted', 'verdict'], verdicts.map((v) => [v.name, v.value, v.target, v.pass ? 'PASS' : 'FAIL']), 'lrrl'))
  const failed = verdicts.filter((v) => !v.pass).length
  console.log(`\n${failed === 0 ? 'all targets met' : `${failed} target${failed === 1 ? '' : 's'} missed`} (${Math.round((Date.now() - started) / 1000)} s)`)

  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, 'results.json')
  writeFileSync(file, JSON.stringify({ settings, date: new Date().toISOString(), trials: Object.fromEntries(trials), paired: Object.fromEntries(paired), startup, alloc, verdicts }, null, 2))
  console.log(`raw results: ${file}`)
  if (failed > 0 && settings.strict) process.exitCode = 1
}

main().then(cleanup, (err: unknown) => {
  console.error(err)
  cleanup()
  process.exitCode = 1
})
