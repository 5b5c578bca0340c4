import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from 'redis'
import { RESP2, type PlainClient } from './major'
import { checkText, secret } from './secret-guard'

/** What a test may ask of the redis-server it starts. */
export interface RedisServerOptions {
  /** `requirepass` for the default user. */
  password?: string
  /** ACL users: `{ name: 'app', password: 's3cret' }` gets `on >s3cret ~* &* +@all`. */
  users?: Array<{ name: string, password: string, rules?: string }>
  /** Also listen on a unix socket in the server's temporary folder. */
  unixSocket?: boolean
  /** Bind the IPv6 loopback too. */
  ipv6?: boolean
  /**
   * Serve TLS only, with a CA and a server certificate made by openssl.
   * `'mutual'`: clients must also present a certificate of that CA (one is
   * made for them).
   */
  tls?: boolean | 'mutual'
  /** Listen on this port instead of a free one picked by the helper. */
  port?: number
  /** Any further redis-server arguments. */
  args?: string[]
}

export interface RedisServer {
  readonly port: number
  readonly dir: string
  /** Path of the unix socket, when asked for. */
  readonly socket?: string
  /** With `tls`: PEM files made for this server. */
  readonly certs?: Certs
  readonly process: ChildProcess
  /** Runs a command through an admin connection the helper owns. */
  command (...args: string[]): Promise<unknown>
  /** CLIENT LIST, one object per connection. */
  clients (): Promise<Array<Record<string, string>>>
  /** SIGSTOP: the kernel still accepts connections, nothing answers. */
  pause (): void
  /** SIGCONT after pause(). */
  resume (): void
  /** SIGKILL, as a crash would. */
  kill (): Promise<void>
  /** Start again on the same port (and socket), after kill(). */
  restart (): Promise<void>
  /** Kill it and remove its folder (teardown does this). */
  stop (): Promise<void>
}

interface Teardown { teardown (fn: () => unknown): void }

let checked = false
function requireRedisServer (): void {
  if (checked) return
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (probe.error) {
    throw new Error('redis-server is not installed, and the tests start their own. Install it first: ' +
      '`sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).')
  }
  checked = true
}

/** A TCP port nobody listens on right now. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * The environment for a node child process whose coverage tap must not
 * record: it runs under another transpiler (tsx), and its source maps would
 * not merge with those of the test processes.
 */
export function untracedEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0', ...extra }
}

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** Paths of PEM files, and the CA (and client certificate) as PEM text. */
export interface Certs {
  ca: string
  cert: string
  key: string
  caPem: string
  /** With `client`: a client certificate signed by the same CA, and its key. */
  client?: { cert: string, key: string }
}

/**
 * A CA and a server certificate for localhost, 127.0.0.1 and ::1, made with
 * openssl in `dir`; with `client`, a client certificate of the same CA too.
 * Elliptic-curve keys (P-256): an RSA 2048 key takes openssl about half a
 * CPU second to generate, this one about 10 ms, and the suite makes dozens.
 */
export function makeCerts (dir: string, client = false): Certs {
  const run = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`)
  }
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
  run('req', '-x509', ...newKey, '-nodes', '-days', '2', '-subj', '/CN=fastify-node-redis test CA',
    '-keyout', 'ca.key', '-out', 'ca.crt')
  /** A key and a certificate signed by the CA: `<name>.key`, `<name>.crt`, with the extensions in `<name>.cnf`. */
  const issue = (name: string, subject: string, extensions: string): void => {
    writeFileSync(join(dir, `${name}.cnf`), `${extensions}\n`)
    run('req', ...newKey, '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`)
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-extfile', `${name}.cnf`, '-out', `${name}.crt`)
  }
  issue('server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1')
  const certs: Certs = { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), caPem: readFileSync(join(dir, 'ca.crt'), 'utf8') }
  if (client) {
    issue('client', '/CN=fastify-node-redis test client', 'extendedKeyUsage=clientAuth')
    certs.client = { cert: readFileSync(join(dir, 'client.crt'), 'utf8'), key: readFileSync(join(dir, 'client.key'), 'utf8') }
  }
  return certs
}

/**
 * Spawns redis-server with `args` and resolves once it accepts connections
 * (once it prints `ready`: a sentinel says "Sentinel ID is" instead); the
 * process is killed if it fails to start, and when this process exits.
 */
export async function launchRedisServer (args: string[], ready = 'Ready to accept connections'): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  child.on('exit', () => running.delete(child))
  let output = ''
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        if (output.includes(ready)) {
          child.stdout!.off('data', onData)
          child.stderr!.off('data', onData)
          resolve()
        }
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`)))
      child.once('error', reject)
    })
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  // Everything the server prints is searched for secrets once it is gone.
  const onOutput = (chunk: Buffer): void => { output += chunk.toString() }
  child.stdout!.on('data', onOutput)
  child.stderr!.on('data', onOutput)
  child.once('close', () => checkText(output, 'redis-server output'))
  return child
}

/**
 * Starts a private redis-server for one test: a free port, a temporary
 * folder, nothing saved to disk. Killed and removed in teardown.
 */
export async function startRedis (t: Teardown, options: RedisServerOptions = {}): Promise<RedisServer> {
  requireRedisServer()
  for (const password of [options.password, ...(options.users ?? []).map((u) => u.password)]) {
    if (password !== undefined) secret(password)
  }
  const dir = mkdtempSync(join(tmpdir(), 'fnr-redis-'))
  const socket = options.unixSocket ? join(dir, 'redis.sock') : undefined
  const certs = options.tls ? makeCerts(dir, options.tls === 'mutual') : undefined
  let port = 0
  let child: ChildProcess | undefined
  const argsFor = (p: number): string[] => {
    const args = ['--bind', options.ipv6 ? '127.0.0.1 ::1' : '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--logfile', '', '--protected-mode', 'no']
    if (certs) {
      args.push('--port', '0', '--tls-port', String(p), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key,
        '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', certs.client ? 'yes' : 'no')
    } else {
      args.push('--port', String(p))
    }
    if (socket) args.push('--unixsocket', socket, '--unixsocketperm', '700')
    if (options.users?.length) {
      // ACL users go through an ACL file: redis-server splits --user arguments on spaces.
      const lines = [`user default on ${options.password ? `>${options.password}` : 'nopass'} ~* &* +@all`]
      for (const user of options.users) lines.push(`user ${user.name} on >${user.password} ${user.rules ?? '~* &* +@all'}`)
      writeFileSync(join(dir, 'users.acl'), lines.join('\n') + '\n')
      args.push('--aclfile', join(dir, 'users.acl'))
    } else if (options.password) {
      args.push('--requirepass', options.password)
    }
    return args.concat(options.args ?? [])
  }
  // A free port can be taken between the probe and the bind: try a few.
  for (let attempt = 0; child === undefined; attempt++) {
    port = options.port ?? await freePort()
    try {
      child = await launchRedisServer(argsFor(port))
    } catch (err) {
      if (attempt >= 4) throw err
    }
  }

  let admin: PlainClient | undefined
  const adminClient = async (): Promise<PlainClient> => {
    if (admin?.isReady) return admin
    const c = createClient({
      socket: certs
        ? { host: '127.0.0.1', port, tls: true, ca: certs.caPem, ...certs.client, reconnectStrategy: false }
        : { host: '127.0.0.1', port, reconnectStrategy: false },
      ...(options.password && { password: options.password }),
      ...RESP2,
      name: 'test-admin'
    })
    c.on('error', () => {})
    await c.connect()
    admin = c
    return c
  }
  const dropAdmin = async (): Promise<void> => {
    const c = admin
    admin = undefined
    if (c?.isOpen) await c.disconnect().catch(() => {})
  }

  const server: RedisServer = {
    port,
    dir,
    socket,
    certs,
    get process () { return child! },
    async command (...args: string[]) {
      return await (await adminClient()).sendCommand(args)
    },
    async clients () {
      const list = String(await server.command('CLIENT', 'LIST'))
      return list.trim().split('\n').filter(Boolean).map((line) =>
        Object.fromEntries(line.split(' ').map((kv) => {
          const eq = kv.indexOf('=')
          return [kv.slice(0, eq), kv.slice(eq + 1)]
        })))
        .filter((c) => c.name !== 'test-admin')
    },
    pause () { child!.kill('SIGSTOP') },
    resume () { child!.kill('SIGCONT') },
    async kill () {
      await dropAdmin()
      const c = child!
      if (c.exitCode !== null || c.signalCode !== null) return
      await new Promise((resolve) => { c.once('exit', resolve); c.kill('SIGKILL') })
    },
    async restart () {
      await server.kill()
      child = await launchRedisServer(argsFor(port))
    },
    async stop () {
      await server.kill()
      rmSync(dir, { recursive: true, force: true })
    }
  }
  t.teardown(() => server.stop())
  return server
}
