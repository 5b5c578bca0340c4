import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface BenchRedis {
  readonly port: number
  /** `redis://127.0.0.1:<port>`, without a database. */
  readonly url: string
  readonly version: string
  /** The redis-server process. */
  readonly pid: number
  /** Kills the server and removes its folder; safe to call twice, and from an exit handler. */
  stop (): void
}

/** A TCP port nobody listens on right now. */
async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function versionOf (): string {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    throw new Error('redis-server is not installed, and the benchmark starts its own. Install it first: ' +
      '`sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).')
  }
  return /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim()
}

async function launch (port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--dir', dir, '--logfile', ''
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) resolve()
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`)))
      child.once('error', reject)
    })
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  child.stdout.removeAllListeners('data').resume()
  child.stderr.removeAllListeners('data').resume()
  return child
}

/**
 * Starts the benchmark's own redis-server on a free loopback port (never
 * 6379, never anyone else's data), persisting nothing.
 */
export async function startRedisServer (): Promise<BenchRedis> {
  const version = versionOf()
  const dir = mkdtempSync(join(tmpdir(), 'fnr-bench-'))
  let child: ChildProcess | undefined
  let port = 0
  // A free port can be taken between the probe and the bind: try a few.
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort()
    if (port === 6379) continue
    try {
      child = await launch(port, dir)
    } catch (err) {
      if (attempt >= 4) {
        rmSync(dir, { recursive: true, force: true })
        throw err
      }
    }
  }
  const server = child
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    version,
    pid: server.pid!,
    stop () {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
