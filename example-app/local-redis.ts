// `npm run example` with no settings on a machine with no Redis running: a
// private redis-server for the app's lifetime, so the first command works.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What to do when `redis-server` is not installed. */
export const INSTALL_REDIS = 'install it (`sudo apt-get install redis-server` on Debian/Ubuntu, `brew install redis` on macOS) ' +
  'and run `npm run example` again, or point REDIS_URL / SESSIONS_URL at a Redis'

/** Whether any of the app's Redis connections is configured in `env`. */
export function redisConfigured (env: NodeJS.ProcessEnv): boolean {
  return Object.keys(env).some((key) => /^(REDIS|SESSIONS)_/.test(key))
}

/** Whether something accepts TCP connections at host:port within `ms`. */
export async function answers (host: string, port: number, ms = 1000): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (result: boolean): void => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(ms, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface PrivateRedis {
  /** `redis://127.0.0.1:<port>`, without a database. */
  readonly url: string
  /** Its temporary folder, removed by stop(). */
  readonly dir: string
  /** Stops the server and removes its folder; safe to call twice. */
  stop (): Promise<void>
}

/**
 * Starts `redis-server` on a free loopback port with a temporary folder and
 * no persistence. Resolves with undefined when the command is not installed.
 * The server is killed when this process exits, whatever the reason.
 */
export async function startPrivateRedis (command = 'redis-server'): Promise<PrivateRedis | undefined> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'example-app-redis-'))
  const child = spawn(command, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--logfile', ''], { stdio: ['ignore', 'pipe', 'pipe'] })
  /* c8 ignore next: runs only when the process exits without stopping it (a crash, or the close bound's forced exit) */
  const kill = (): void => { child.kill('SIGKILL') }
  process.once('exit', kill)
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  let output = ''
  const started = await new Promise<boolean | Error>((resolve) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) resolve(true)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('error', (err: Error & { code?: string }) => resolve(err.code === 'ENOENT' ? false : err))
    child.once('exit', (code) => resolve(new Error(`redis-server exited (${code}) before it was ready: ${output.trim()}`)))
  })
  const stop = async (): Promise<void> => {
    process.off('exit', kill)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  if (started !== true) {
    await stop()
    if (started === false) return undefined
    throw started
  }
  // Its log is not the app's: read and dropped.
  child.stdout.removeAllListeners('data').resume()
  child.stderr.removeAllListeners('data').resume()
  return { url: `redis://127.0.0.1:${port}`, dir, stop }
}
