// The short chaos run of CI: `npm run chaos` with a fixed seed for 25 s, in a
// child process of its own (it checks that process's sockets and timers, and
// that it exits by itself), with tap's coverage off there: the harness is not
// shipped code. As root with iproute2 it also gets its network namespaces
// and the network faults; elsewhere it runs on loopback only. See docs/chaos.md.
import { test } from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fullOnly } from './helpers/full'
import { untracedEnv } from './helpers/redis'

const SEED = '15'
const SECONDS = '25'
// The run shares the machine with the other test files (tap runs four at a
// time): a request may take 1.5 × commandTimeout + 1000 ms, not + 500 ms.
const MARGIN = '1000'

test('a short seeded chaos run: no invariant violated', { skip: fullOnly('the chaos run') }, async (t) => {
  const script = join(__dirname, '..', 'bench', 'chaos', 'index.ts')
  const child = spawn(process.execPath, ['--expose-gc', '--conditions=fastify-node-redis-source', '--import', 'tsx', script, '--seed', SEED, '--duration', SECONDS, '--margin', MARGIN, '--strict'], {
    env: untracedEnv(),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT') })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  for (const line of output.trim().split('\n')) if (!line.startsWith('(node:') && !line.startsWith('(Use ')) t.comment(line)

  t.equal(code, 0, 'the run ends with exit code 0 (replay it with the seed printed above)')
  t.match(output, new RegExp(`chaos: seed ${SEED}, done in`), 'the run went to its end')
  t.match(output, /^violations: 0\b/m, 'no new violation')
  t.notMatch(output, /process did not exit by itself/, 'the process exited by itself')
  t.match(output, /acknowledged missing 0, refused present 0/, 'no acknowledged write lost, no refused write applied')
  const known = Number(/of (\d+) known bugs|and (\d+) of known bugs/.exec(output)?.slice(1).find(Boolean) ?? 0)
  t.equal(known, 0, 'no violation of a fixed bug\'s signature either (a regression)')
})
