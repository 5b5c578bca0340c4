import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from 'redis'
import { RESP2, type PlainClient } from './major'
import { launchRedisServer, makeCerts, type Certs } from './redis'
import { checkText, secret } from './secret-guard'

/** What a test may ask of the Redis Cluster it starts. */
export interface RedisClusterOptions {
  /** Number of masters (default 3). */
  masters?: number
  /** Replicas per master (default 1). */
  replicasPerMaster?: number
  /**
   * `cluster-node-timeout` in ms (default 1000): how long a node may be
   * unreachable before it is failed over. Small values make failover fast.
   */
  nodeTimeout?: number
  /** `requirepass` and `masterauth` on every node. */
  password?: string
  /** TLS only (clients, cluster bus and replication), with a CA and a certificate made by openssl. */
  tls?: boolean
  /** Any further redis-server arguments, for every node. */
  args?: string[]
  /** ms to wait for the new cluster to reach `cluster_state:ok` (default 20000). */
  startTimeout?: number
}

export type ClusterRole = 'master' | 'replica'

export interface ClusterNode {
  readonly port: number
  /** The role redis-cli gave the node at creation; `masters()`/`replicas()` tell the current roles. */
  readonly role: ClusterRole
  /** Folder holding this node's `nodes-<port>.conf`. */
  readonly dir: string
  /** The current redis-server process (a new one after `restart`). */
  readonly process: ChildProcess
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  id: string
  port: number
  flags: string[]
  role: ClusterRole
  /** Id of the master, for a replica. */
  masterId?: string
  /** `true` when flagged `fail` (or `fail?` as seen from this node). */
  failing: boolean
  /** Slot ranges served, inclusive: `[[0, 5460]]`. */
  slots: Array<[number, number]>
}

export interface WaitOptions {
  /** ms before giving up (default 15000). */
  timeout?: number
  /** Also wait until every live replica has `master_link_status:up` (default true for 'ok'). */
  replicasInSync?: boolean
}

export interface RedisCluster {
  readonly nodes: readonly ClusterNode[]
  /** `redis://127.0.0.1:<port>` (`rediss://` with `tls`) for every node, masters first. */
  readonly rootUrls: string[]
  readonly password?: string
  /** With `tls`: PEM files made for the nodes (one certificate for 127.0.0.1 / localhost). */
  readonly certs?: Certs
  /** Ports of the masters that serve slots now (from a live node's CLUSTER NODES). */
  masters (): Promise<number[]>
  /** Ports of the replicas now, failed ones excluded. */
  replicas (): Promise<number[]>
  /** CLUSTER NODES as seen from `port` (default: the first live node). */
  topology (port?: number): Promise<ClusterNodeInfo[]>
  /** Port of the master that serves `key` now. */
  masterOf (key: string): Promise<number>
  /** A key (`prefix:<n>`) whose slot the master on `port` serves now. */
  keyOn (port: number, prefix?: string): Promise<string>
  /** Runs a command on one node through an admin connection the helper owns (hangs on a paused node). */
  command (port: number, ...args: string[]): Promise<unknown>
  /** SIGKILL, as a crash would; resolves when the process is gone. */
  kill (port: number): Promise<void>
  /** Starts a killed node again on the same port with its nodes.conf: it rejoins the cluster. */
  restart (port: number): Promise<void>
  /** SIGSTOP: the kernel still accepts connections, nothing answers. */
  pause (port: number): void
  /** SIGCONT after pause(). */
  resume (port: number): void
  /**
   * Waits until every live (not killed, not paused) node reports
   * `cluster_state:<state>`. For 'ok' also: all live nodes agree on which
   * master serves which slot, all 16384 slots are served by live nodes, and
   * (unless `replicasInSync: false`) every live replica is in sync.
   * Resolves with the ms it took.
   */
  waitForState (state?: 'ok' | 'fail', options?: WaitOptions): Promise<number>
  /** Kills every node and removes the folder (teardown does this). */
  stop (): Promise<void>
}

interface Teardown { teardown (fn: () => unknown): void }

const SLOTS = 16384

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

let checked = false
function requireRedisBinaries (): void {
  if (checked) return
  for (const bin of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' })
    if (probe.error) {
      throw new Error(`${bin} is not installed, and the cluster tests start their own Redis Cluster. Install it first: ` +
        '`sudo apt-get install redis-server` (Debian/Ubuntu, brings redis-cli) or `brew install redis` (macOS).')
    }
  }
  checked = true
}

// Folders of every cluster started by this process: removed even when a test
// forgets teardown or the process exits early (launchRedisServer's own exit
// hook, registered first, kills the processes).
const folders = new Set<string>()
process.on('exit', () => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true })
})

async function canBind (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A port p such that p and its cluster bus port p + 10000 are both free now.
 * Picked below the usual ephemeral range so that p + 10000 stays valid.
 */
async function freeClusterPort (taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    if (taken.has(port) || taken.has(port + 10000) || taken.has(port - 10000)) continue
    if (await canBind(port) && await canBind(port + 10000)) {
      taken.add(port)
      return port
    }
  }
  throw new Error('no free port pair (p, p + 10000) found for a cluster node')
}

async function runCli (args: string[], timeout: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      checkText(output, 'redis-cli output')
      const shown = args.map((a, i) => (args[i - 1] === '-a' ? '<password>' : a)).join(' ')
      if (code === 0 && !/\[ERR\]/.test(output)) resolve(output)
      else reject(new Error(`redis-cli ${shown} failed (${signal ?? code}):\n${output}`))
    })
  })
}

/** The hash slot of a key, hash tags included (CRC16/XMODEM mod 16384). */
export function slotOf (key: string): number {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % SLOTS
}

export function parseClusterNodes (text: string): ClusterNodeInfo[] {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [id, address, flagList, master, , , , , ...slotFields] = line.trim().split(' ')
    const flags = flagList.split(',')
    const slots: Array<[number, number]> = []
    for (const field of slotFields) {
      if (field.startsWith('[')) continue // migrating / importing
      const [from, to] = field.split('-').map(Number)
      slots.push([from, to ?? from])
    }
    return {
      id,
      port: Number(address.split('@')[0].split(':').pop()),
      flags,
      role: flags.includes('slave') ? 'replica' : 'master',
      masterId: master === '-' ? undefined : master,
      failing: flags.includes('fail') || flags.includes('fail?'),
      slots
    }
  })
}

/**
 * Starts a private Redis Cluster for one test (3 masters + 3 replicas by
 * default) on free ports, in one temporary folder, nothing saved to disk.
 * Resolves once the cluster is ok everywhere; killed and removed in teardown.
 */
export async function startCluster (t: Teardown, options: RedisClusterOptions = {}): Promise<RedisCluster> {
  requireRedisBinaries()
  const masterCount = options.masters ?? 3
  const perMaster = options.replicasPerMaster ?? 1
  const total = masterCount * (1 + perMaster)
  const nodeTimeout = options.nodeTimeout ?? 1000
  const password = options.password
  if (password !== undefined) secret(password)
  const dir = mkdtempSync(join(tmpdir(), 'fnr-cluster-'))
  folders.add(dir)
  const certs = options.tls ? makeCerts(dir) : undefined

  const children = new Map<number, ChildProcess>()
  const killed = new Set<number>()
  const paused = new Set<number>()
  const admins = new Map<number, PlainClient>()
  let stopped = false

  const argsFor = (port: number): string[] => [
    ...(certs
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key,
          '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no', '--tls-cluster', 'yes', '--tls-replication', 'yes']
      : ['--port', String(port)]),
    '--bind', '127.0.0.1', '--protected-mode', 'no',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', String(nodeTimeout),
    // Let any replica take over, however stale, so failover tests are deterministic.
    '--cluster-replica-validity-factor', '0',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--logfile', '',
    // Replicas sync at once instead of after the 5 s diskless delay.
    '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
    // CLUSTER SLOTS lists a replica only once its replication offset moved:
    // ping replicas every second rather than every 10 s.
    '--repl-ping-replica-period', '1',
    ...(password ? ['--requirepass', password, '--masterauth', password] : []),
    ...(options.args ?? [])
  ]

  const stopAll = async (): Promise<void> => {
    stopped = true
    const closing = [...admins.values()].map(async (c) => { if (c.isOpen) await c.disconnect().catch(() => {}) })
    admins.clear()
    await Promise.all(closing)
    await Promise.all([...children.values()].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGKILL') })
    }))
    rmSync(dir, { recursive: true, force: true })
    folders.delete(dir)
  }
  // Registered first, so a failed start cleans up too.
  t.teardown(stopAll)

  // Launch every node in parallel; a port taken between probe and bind gets a new one.
  const taken = new Set<number>()
  const ports = await Promise.all(Array.from({ length: total }, async () => {
    for (let attempt = 0; ; attempt++) {
      const port = await freeClusterPort(taken)
      try {
        children.set(port, await launchRedisServer(argsFor(port)))
        return port
      } catch (err) {
        if (attempt >= 4) throw err
      }
    }
  }))

  const adminClient = async (port: number): Promise<PlainClient> => {
    const existing = admins.get(port)
    if (existing?.isReady) return existing
    if (existing?.isOpen) await existing.disconnect().catch(() => {})
    const c = createClient({
      socket: certs
        ? { host: '127.0.0.1', port, tls: true, ca: certs.caPem, reconnectStrategy: false, connectTimeout: 2000 }
        : { host: '127.0.0.1', port, reconnectStrategy: false, connectTimeout: 2000 },
      ...(password && { password }),
      ...RESP2,
      name: 'test-admin',
      disableClientInfo: true
    })
    c.on('error', () => {})
    admins.set(port, c)
    await c.connect()
    return c
  }
  const dropAdmin = async (port: number): Promise<void> => {
    const c = admins.get(port)
    admins.delete(port)
    if (c?.isOpen) await c.disconnect().catch(() => {})
  }
  const command = async (port: number, ...args: string[]): Promise<unknown> =>
    await (await adminClient(port)).sendCommand(args)

  const live = (): number[] => ports.filter((p) => !killed.has(p) && !paused.has(p))
  const topology = async (port?: number): Promise<ClusterNodeInfo[]> => {
    const from = port ?? live()[0]
    if (from === undefined) throw new Error('no live cluster node to ask')
    return parseClusterNodes(String(await command(from, 'CLUSTER', 'NODES')))
  }
  const servingMasters = (view: ClusterNodeInfo[]): ClusterNodeInfo[] =>
    view.filter((n) => n.role === 'master' && !n.failing && n.slots.length > 0)

  const cli = ['-h', '127.0.0.1', ...(password ? ['-a', password, '--no-auth-warning'] : []),
    ...(certs ? ['--tls', '--cacert', certs.ca] : [])]
  await runCli([...cli, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas', String(perMaster), '--cluster-yes'], options.startTimeout ?? 20000)

  const waitForState = async (state: 'ok' | 'fail' = 'ok', wait: WaitOptions = {}): Promise<number> => {
    const timeout = wait.timeout ?? 15000
    const inSync = wait.replicasInSync ?? state === 'ok'
    const start = Date.now()
    let reason = ''
    const check = async (): Promise<boolean> => {
      const nodes = live()
      if (nodes.length === 0) { reason = 'no live node'; return false }
      const signatures = new Set<string>()
      for (const port of nodes) {
        const info = String(await command(port, 'CLUSTER', 'INFO'))
        const actual = /cluster_state:(\w+)/.exec(info)?.[1]
        if (actual !== state) { reason = `node ${port} reports cluster_state:${actual}`; return false }
        if (state !== 'ok') continue
        const view = await topology(port)
        const owners = servingMasters(view)
        const served = owners.reduce((sum, n) => sum + n.slots.reduce((s, [a, b]) => s + b - a + 1, 0), 0)
        if (served !== SLOTS) { reason = `node ${port} sees ${served} of ${SLOTS} slots served`; return false }
        const dead = owners.find((n) => !nodes.includes(n.port))
        if (dead) { reason = `node ${port} still routes slots to unreachable node ${dead.port}`; return false }
        // Every live node is settled in this view: a master serving slots, or a
        // replica of one (a restarted old master is a slotless master for a while).
        const portOf = new Map(view.map((n) => [n.id, n.port]))
        const roles: string[] = []
        for (const other of nodes) {
          const n = view.find((v) => v.port === other)
          const settled = n && !n.failing && !n.flags.includes('handshake') && !n.flags.includes('noaddr') &&
            (n.role === 'master' ? n.slots.length > 0 : owners.some((o) => o.id === n.masterId))
          if (!settled) { reason = `node ${port} sees node ${other} as ${n ? n.flags.join(',') : 'unknown'}${n?.role === 'master' ? ' without slots' : ''}`; return false }
          roles.push(n.role === 'master' ? `${other}:${JSON.stringify(n.slots)}` : `${other}->${portOf.get(n.masterId!)}`)
        }
        signatures.add(roles.sort().join(' '))
        if (inSync) {
          if (view.find((n) => n.flags.includes('myself'))?.role === 'replica') {
            const replication = String(await command(port, 'INFO', 'replication'))
            if (!replication.includes('master_link_status:up')) { reason = `replica ${port} is not in sync yet`; return false }
          }
          // What clients see: every live replica listed by CLUSTER SLOTS (useReplicas).
          const listed = new Set(JSON.stringify(await command(port, 'CLUSTER', 'SLOTS')).match(/(?<=,)\d+(?=,")/g))
          const missing = view.filter((n) => n.role === 'replica' && !n.failing && nodes.includes(n.port) && !listed.has(String(n.port)))
          if (missing.length) { reason = `node ${port} does not list replica ${missing[0].port} in CLUSTER SLOTS yet`; return false }
        }
      }
      if (signatures.size > 1) { reason = `nodes disagree on the slot map:\n${[...signatures].join('\n')}`; return false }
      return true
    }
    for (;;) {
      if (stopped) throw new Error('cluster stopped')
      if (await check().catch((err: Error) => { reason = err.message; return false })) return Date.now() - start
      if (Date.now() - start > timeout) throw new Error(`cluster not ${state} within ${timeout} ms: ${reason}`)
      await sleep(50)
    }
  }

  await waitForState('ok', { timeout: options.startTimeout ?? 20000 })
  const initial = await topology()
  const roleOf = (port: number): ClusterRole => initial.find((n) => n.port === port)?.role ?? 'replica'
  const ordered = [...ports].sort((a, b) => (roleOf(a) === roleOf(b) ? 0 : roleOf(a) === 'master' ? -1 : 1))

  const cluster: RedisCluster = {
    nodes: ordered.map((port) => ({
      port,
      role: roleOf(port),
      dir,
      get process () { return children.get(port)! }
    })),
    rootUrls: ordered.map((port) => `${certs ? 'rediss' : 'redis'}://127.0.0.1:${port}`),
    password,
    certs,
    async masters () {
      return servingMasters(await topology()).map((n) => n.port)
    },
    async replicas () {
      return (await topology()).filter((n) => n.role === 'replica' && !n.failing).map((n) => n.port)
    },
    topology,
    async masterOf (key) {
      const slot = slotOf(key)
      const owner = servingMasters(await topology()).find((n) => n.slots.some(([a, b]) => slot >= a && slot <= b))
      if (!owner) throw new Error(`no live master serves slot ${slot}`)
      return owner.port
    },
    async keyOn (port, prefix = 'key') {
      const node = (await topology()).find((n) => n.port === port)
      if (!node?.slots.length) throw new Error(`node ${port} serves no slot`)
      for (let i = 0; i < 1e6; i++) {
        const key = `${prefix}:${i}`
        const slot = slotOf(key)
        if (node.slots.some(([a, b]) => slot >= a && slot <= b)) return key
      }
      throw new Error(`no key ${prefix}:<n> hashes to node ${port} (a hash tag in the prefix pins the slot)`)
    },
    command,
    async kill (port) {
      const child = children.get(port)
      if (!child) throw new Error(`no cluster node on port ${port}`)
      await dropAdmin(port)
      paused.delete(port)
      killed.add(port)
      if (child.exitCode !== null || child.signalCode !== null) return
      await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGKILL') })
    },
    async restart (port) {
      await cluster.kill(port)
      children.set(port, await launchRedisServer(argsFor(port)))
      killed.delete(port)
    },
    pause (port) {
      const child = children.get(port)
      if (!child) throw new Error(`no cluster node on port ${port}`)
      child.kill('SIGSTOP')
      paused.add(port)
    },
    resume (port) {
      children.get(port)?.kill('SIGCONT')
      paused.delete(port)
    },
    waitForState,
    stop: stopAll
  }
  return cluster
}
