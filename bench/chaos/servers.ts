// The chaos run's own redis-server processes: one per single-Redis target, a
// 3+3 cluster, and (with network namespaces) one behind a veth pair. Every
// server persists with `appendonly yes` + `appendfsync always`, so that an
// acknowledged write survives SIGKILL, and listens on a unix socket too: the
// harness administers it there, out of reach of CLIENT KILL's TCP victims
// and of the network faults.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createClient } from 'redis'

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves with the promise, or rejects after `ms` (the timer is always cleared). */
export async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

async function canBind (port: number, host: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

const taken = new Set<number>()
/**
 * A free port p (and p + 10000, a cluster bus port) between 20000 and 32000,
 * drawn by `draw` so that a seed replays the same ports when they are free.
 * Never 6379.
 */
export async function freePort (draw: () => number): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = 20000 + Math.floor(draw() * 12000)
    if (taken.has(port) || taken.has(port + 10000) || taken.has(port - 10000)) continue
    if (await canBind(port, '127.0.0.1') && await canBind(port + 10000, '127.0.0.1')) {
      taken.add(port)
      return port
    }
  }
  throw new Error('no free port pair (p, p + 10000) found')
}

/** An admin connection over a unix socket (its type is what createClient gives on the installed major). */
function newAdmin (path: string) {
  return createClient({ socket: { path, reconnectStrategy: false, connectTimeout: 2000 }, name: 'chaos-admin' })
}
type Admin = ReturnType<typeof newAdmin>

export interface ServerOptions {
  name: string
  port: number
  /** Folder for its AOF, its unix socket and (cluster) its nodes.conf. */
  dir: string
  /** Address to bind (default 127.0.0.1). */
  bind?: string
  /** Network namespace to run in (`ip netns exec <netns> redis-server …`). */
  netns?: string
  /** Cluster mode, with this cluster-node-timeout. */
  clusterNodeTimeout?: number
}

/** Closes a node-redis client on any major (v4 disconnect, v5+ destroy). */
export async function drop (client: { disconnect?: () => Promise<unknown>, destroy?: () => unknown, isOpen: boolean }): Promise<void> {
  if (!client.isOpen) return
  try {
    if (typeof client.destroy === 'function') client.destroy()
    else await client.disconnect!()
  } catch {}
}

export class Server {
  readonly socket: string
  state: 'up' | 'killed' | 'paused' = 'killed'
  /** DEBUG SLEEP in progress until then (ms since epoch). */
  sleepingUntil = 0
  /** When it last became able to answer (start, restart, SIGCONT, end of a sleep or a network fault). */
  upSince = 0
  /** A network fault is on (black hole or delay): TCP clients cannot reach it. */
  netFault = false
  /** When its last network fault ended (ms since epoch; 0: none yet). */
  netFaultEnd = 0
  child: ChildProcess | undefined
  private admin: Admin | undefined
  private connecting: Promise<Admin> | undefined
  private output = ''

  constructor (readonly options: ServerOptions) {
    mkdirSync(options.dir, { recursive: true })
    this.socket = join(options.dir, 'redis.sock')
  }

  get port (): number { return this.options.port }
  get host (): string { return this.options.bind ?? '127.0.0.1' }
  get name (): string { return this.options.name }

  /** Up, not paused, not sleeping, and has been for `ms`. */
  quiet (ms: number): boolean {
    return this.state === 'up' && !this.netFault && Date.now() >= this.sleepingUntil + ms && Date.now() - this.upSince >= ms
  }

  private args (): string[] {
    const o = this.options
    const args = ['--port', String(o.port), '--bind', this.host, '--protected-mode', 'no',
      '--unixsocket', this.socket, '--unixsocketperm', '700',
      '--dir', o.dir, '--logfile', '', '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--appendfilename', 'chaos.aof',
      '--enable-debug-command', 'local', '--maxclients', '10000']
    if (o.clusterNodeTimeout !== undefined) {
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(o.dir, 'nodes.conf'),
        '--cluster-node-timeout', String(o.clusterNodeTimeout), '--cluster-replica-validity-factor', '0',
        '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '1')
    }
    return args
  }

  async start (): Promise<void> {
    const command = this.options.netns === undefined
      ? ['redis-server', ...this.args()]
      // `ip netns exec` execs redis-server in place: the pid is the server's.
      : ['ip', 'netns', 'exec', this.options.netns, 'redis-server', ...this.args()]
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    running.add(child)
    child.on('exit', () => running.delete(child))
    this.output = ''
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        this.output = (this.output + chunk.toString()).slice(-4000)
        if (this.output.includes('Ready to accept connections')) resolve()
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code, signal) => reject(new Error(`redis-server ${this.name} exited (${code ?? signal}) before it was ready:\n${this.output}`)))
      child.once('error', reject)
    })
    this.state = 'up'
    this.upSince = Date.now()
  }

  /** The admin connection (unix socket); reopened when a kill or restart dropped it. */
  private async adminClient (): Promise<Admin> {
    if (this.admin?.isReady === true) return this.admin
    // Concurrent callers share one connection attempt.
    this.connecting ??= (async () => {
      if (this.admin !== undefined) await drop(this.admin as never)
      const client = newAdmin(this.socket)
      client.on('error', () => {})
      this.admin = client
      try {
        await within(client.connect(), 3000, `admin connection to ${this.name}`)
      } catch (err) {
        await drop(client as never)
        throw err
      }
      return client
    })().finally(() => { this.connecting = undefined })
    return await this.connecting
  }

  /** A command through the admin connection, bounded by `ms`. */
  async command (args: string[], ms = 3000): Promise<unknown> {
    const admin = await this.adminClient()
    return await within(admin.sendCommand(args), ms, `${args.join(' ')} on ${this.name}`)
  }

  /** CLIENT LIST, without the harness's own connections. */
  async clients (): Promise<Array<Record<string, string>>> {
    const list = String(await this.command(['CLIENT', 'LIST']))
    return list.trim().split('\n').filter(Boolean).map((line) =>
      Object.fromEntries(line.split(' ').map((kv) => {
        const eq = kv.indexOf('=')
        return [kv.slice(0, eq), kv.slice(eq + 1)]
      })))
      .filter((c) => c.name !== 'chaos-admin' && c.flags !== undefined && !/[SM]/.test(c.flags))
  }

  pause (): void {
    if (this.state !== 'up') return
    this.child!.kill('SIGSTOP')
    this.state = 'paused'
  }

  resume (): void {
    if (this.state !== 'paused') return
    this.child!.kill('SIGCONT')
    this.state = 'up'
    this.upSince = Date.now()
  }

  async kill (): Promise<void> {
    if (this.admin !== undefined) await drop(this.admin as never)
    this.admin = undefined
    const child = this.child
    this.state = 'killed'
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGKILL') })
  }

  async restart (): Promise<void> {
    await this.kill()
    await this.start()
  }

  /** Closes the admin connection (before the final check of the process's handles). */
  async closeAdmin (): Promise<void> {
    if (this.admin !== undefined) await drop(this.admin as never)
    this.admin = undefined
  }
}

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) {
    child.kill('SIGCONT')
    child.kill('SIGKILL')
  }
})

/** One line of CLUSTER NODES, the parts the harness needs. */
export interface NodeInfo { id: string, port: number, master: boolean, failing: boolean, slots: boolean, myself: boolean }

export function parseNodes (text: string): NodeInfo[] {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [id, address, flagList, , , , , , ...slots] = line.trim().split(' ')
    const flags = flagList.split(',')
    return {
      id,
      port: Number(address.split('@')[0].split(':').pop()),
      master: flags.includes('master'),
      failing: flags.includes('fail') || flags.includes('fail?'),
      slots: slots.some((s) => !s.startsWith('[')),
      myself: flags.includes('myself')
    }
  })
}

export class Cluster {
  constructor (readonly nodes: Server[]) {}

  byPort (port: number): Server | undefined { return this.nodes.find((n) => n.port === port) }

  /** The masters serving slots now, as a live node sees them. */
  async masters (): Promise<Server[]> {
    for (const node of this.nodes) {
      if (!node.quiet(0)) continue
      try {
        const view = parseNodes(String(await node.command(['CLUSTER', 'NODES'], 1000)))
        return view.filter((n) => n.master && n.slots && !n.failing).map((n) => this.byPort(n.port)).filter((n): n is Server => n !== undefined)
      } catch {}
    }
    return []
  }

  /** Every live node says cluster_state:ok, and all agree on 3 live masters serving slots. */
  async ok (): Promise<boolean> {
    const signatures = new Set<string>()
    for (const node of this.nodes) {
      if (node.state !== 'up') return false
      try {
        const info = String(await node.command(['CLUSTER', 'INFO'], 1000))
        if (!info.includes('cluster_state:ok')) return false
        const view = parseNodes(String(await node.command(['CLUSTER', 'NODES'], 1000)))
        const masters = view.filter((n) => n.master && n.slots && !n.failing).map((n) => n.port).sort()
        if (masters.length !== this.nodes.length / 2) return false
        if (view.some((n) => n.failing)) return false
        signatures.add(masters.join(','))
      } catch {
        return false
      }
    }
    return signatures.size === 1
  }

  /** Which node serves each of the 16384 slots now. */
  async slotOwners (): Promise<Server[]> {
    const owners = new Array<Server>(16384)
    const masters = await this.masters()
    const slots = await masters[0].command(['CLUSTER', 'SLOTS']) as Array<[number, number, [string, number]]>
    for (const [from, to, [, port]] of slots) {
      const node = this.byPort(Number(port))!
      for (let slot = from; slot <= to; slot++) owners[slot] = node
    }
    return owners
  }

  async waitOk (ms: number): Promise<number> {
    const started = Date.now()
    while (!await this.ok()) {
      if (Date.now() - started > ms) throw new Error(`cluster not ok within ${ms} ms`)
      await sleep(100)
    }
    return Date.now() - started
  }

  async create (): Promise<void> {
    const args = ['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']
    const run = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 30000 })
    if (run.status !== 0 || /\[ERR\]/.test(run.stdout)) throw new Error(`redis-cli --cluster create failed: ${run.stdout}${run.stderr}`)
    await this.waitOk(30000)
  }
}
