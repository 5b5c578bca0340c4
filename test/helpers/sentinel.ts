import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from 'redis'
import { RESP2, type PlainClient } from './major'
import { freePort, launchRedisServer, startRedis, type RedisServer } from './redis'
import { secret } from './secret-guard'

/** What a test may ask of the Sentinel setup it starts. */
export interface SentinelSetupOptions {
  /** The master group name (default 'mymaster'). */
  name?: string
  /** `requirepass` (and `masterauth`) of the data nodes; the sentinels get it as `auth-pass`. */
  password?: string
  /** `requirepass` of the sentinels themselves. */
  sentinelPassword?: string
  /** `down-after-milliseconds` (default 1000). */
  downAfter?: number
  /** `failover-timeout` (default 3000). */
  failoverTimeout?: number
}

export interface SentinelNode {
  readonly port: number
  readonly process: ChildProcess
  /** SIGSTOP: the kernel still accepts connections, nothing answers. */
  pause (): void
  resume (): void
  /** SIGKILL; resolves when the process is gone. */
  kill (): Promise<void>
}

export interface SentinelSetup {
  readonly name: string
  /** The master when the setup started, then its two replicas. */
  readonly data: readonly RedisServer[]
  readonly sentinels: readonly SentinelNode[]
  /** `redis://127.0.0.1:<port>` of every sentinel (no credentials). */
  readonly urls: string[]
  /** A sentinel command, through an admin connection to the first live sentinel (or `port`). */
  command (args: string[], port?: number): Promise<unknown>
  /** Port of the master the sentinels name now. */
  masterPort (): Promise<number>
  /** The data node serving as master now. */
  master (): Promise<RedisServer>
  /**
   * Waits until the sentinels name a master other than `port`, which says it
   * is a master and has `replicas` replicas in sync; resolves with its port.
   */
  waitForNewMaster (port: number, options?: { timeout?: number, replicas?: number }): Promise<number>
}

interface Teardown { teardown (fn: () => unknown): void }

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` (which says why not, or true) until true or `timeout` ms. */
async function until (what: string, check: () => Promise<true | string>, timeout: number): Promise<number> {
  const start = Date.now()
  let reason = ''
  for (;;) {
    const result = await check().catch((err: Error) => err.message)
    if (result === true) return Date.now() - start
    reason = result
    if (Date.now() - start > timeout) throw new Error(`${what} not within ${timeout} ms: ${reason}`)
    await sleep(50)
  }
}

/** A flat [field, value, …] reply (RESP2) as an object. */
function fields (reply: unknown): Record<string, string> {
  const list = reply as unknown[]
  const out: Record<string, string> = {}
  for (let i = 0; i < list.length; i += 2) out[String(list[i])] = String(list[i + 1])
  return out
}

/**
 * Starts a private Sentinel setup for one test: one master and two replicas
 * (redis-server, nothing saved), and three `redis-server --sentinel` on free
 * ports, each with its own writable config file in a temporary folder.
 * Resolves once the replicas are in sync and every sentinel sees the two
 * replicas and the two other sentinels; everything is killed in teardown.
 */
export async function startSentinel (t: Teardown, options: SentinelSetupOptions = {}): Promise<SentinelSetup> {
  const name = options.name ?? 'mymaster'
  const { password, sentinelPassword } = options
  if (password !== undefined) secret(password)
  if (sentinelPassword !== undefined) secret(sentinelPassword)
  const dir = mkdtempSync(join(tmpdir(), 'fnr-sentinel-'))
  const children: ChildProcess[] = []
  const admins = new Map<number, PlainClient>()
  const dead = new Set<number>()
  // Registered first (teardown runs in reverse order: after the data nodes' own).
  t.teardown(async () => {
    await Promise.all([...admins.values()].map(async (c) => { if (c.isOpen) await c.disconnect().catch(() => {}) }))
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGCONT'); child.kill('SIGKILL') })
    }))
    rmSync(dir, { recursive: true, force: true })
  })

  const auth = password === undefined ? [] : ['--masterauth', password]
  const dataArgs = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '1', ...auth]
  const master = await startRedis(t, { password, args: dataArgs })
  const replicas = await Promise.all([0, 1].map(async () =>
    await startRedis(t, { password, args: [...dataArgs, '--replicaof', '127.0.0.1', String(master.port)] })))
  const data = [master, ...replicas]

  const launch = async (): Promise<SentinelNode> => {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort()
      const file = join(dir, `sentinel-${port}.conf`)
      writeFileSync(file, [
        `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`, 'logfile ""',
        ...(sentinelPassword === undefined ? [] : [`requirepass "${sentinelPassword}"`]),
        // The timings must follow the monitor line, which resets them.
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${name} ${options.downAfter ?? 1000}`,
        `sentinel failover-timeout ${name} ${options.failoverTimeout ?? 3000}`,
        ...(password === undefined ? [] : [`sentinel auth-pass ${name} "${password}"`]),
        ''
      ].join('\n'))
      try {
        const child = await launchRedisServer([file, '--sentinel'], 'Sentinel ID is')
        children.push(child)
        const stopped = async (): Promise<void> => {
          dead.add(port)
          const admin = admins.get(port)
          admins.delete(port)
          if (admin?.isOpen) await admin.disconnect().catch(() => {})
        }
        return {
          port,
          process: child,
          pause () { child.kill('SIGSTOP'); dead.add(port) },
          resume () { child.kill('SIGCONT'); dead.delete(port) },
          async kill () {
            await stopped()
            if (child.exitCode !== null || child.signalCode !== null) return
            await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGKILL') })
          }
        }
      } catch (err) {
        if (attempt >= 4) throw err
      }
    }
  }
  const sentinels: SentinelNode[] = []
  for (let i = 0; i < 3; i++) sentinels.push(await launch())

  const adminOf = async (port: number): Promise<PlainClient> => {
    const existing = admins.get(port)
    if (existing?.isReady) return existing
    const c = createClient({
      socket: { host: '127.0.0.1', port, reconnectStrategy: false, connectTimeout: 2000 },
      ...(sentinelPassword !== undefined && { password: sentinelPassword }),
      ...RESP2,
      disableClientInfo: true
    })
    c.on('error', () => {})
    await c.connect()
    admins.set(port, c)
    return c
  }
  const command = async (args: string[], port?: number): Promise<unknown> => {
    const at = port ?? sentinels.find((s) => !dead.has(s.port))?.port
    if (at === undefined) throw new Error('no live sentinel to ask')
    return await (await adminOf(at)).sendCommand(args)
  }
  const masterPort = async (): Promise<number> => Number((await command(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name]) as string[])[1])
  const inSync = async (port: number, replicas: number): Promise<true | string> => {
    const node = data.find((d) => d.port === port)
    if (node === undefined) return `no data node on port ${port}`
    const info = String(await node.command('INFO', 'replication'))
    if (!info.includes('role:master')) return `node ${port} is not a master yet`
    const up = (info.match(/^slave\d+:.*state=online/gm) ?? []).length
    return up >= replicas ? true : `master ${port} has ${up} of ${replicas} replicas online`
  }

  await until('replicas in sync', async () => {
    for (const replica of replicas) {
      if (!String(await replica.command('INFO', 'replication')).includes('master_link_status:up')) return `replica ${replica.port} is not in sync`
    }
    return true
  }, 20000)
  await until('every sentinel sees the others and the replicas', async () => {
    for (const s of sentinels) {
      const m = fields(await command(['SENTINEL', 'MASTER', name], s.port))
      if (m['num-other-sentinels'] !== '2' || m['num-slaves'] !== '2') {
        return `sentinel ${s.port} sees ${m['num-other-sentinels']} other sentinels and ${m['num-slaves']} replicas`
      }
    }
    return true
  }, 30000)

  return {
    name,
    data,
    sentinels,
    urls: sentinels.map((s) => `redis://127.0.0.1:${s.port}`),
    command,
    masterPort,
    async master () {
      const port = await masterPort()
      return data.find((d) => d.port === port)!
    },
    async waitForNewMaster (port, wait = {}) {
      let found = 0
      await until(`a master other than ${port}`, async () => {
        const now = await masterPort()
        if (now === port) return `the sentinels still name ${port}`
        const ready = await inSync(now, wait.replicas ?? 0)
        if (ready === true) found = now
        return ready
      }, wait.timeout ?? 20000)
      return found
    }
  }
}
