'use strict'
// `npm test`: lint, the type check and the suite, side by side. Many test
// files spend their time waiting (for a fault, a timeout, a failover), and
// lint and the type check need no Redis, so running them beside the suite
// rather than before it saves most of their half minute. The suite's output streams as
// usual (tap's terse reporter, or TAP when not on a terminal); lint's and the
// type check's is printed once the suite is done, in full only if they
// failed. The exit code is 1 if any of the three failed.
const { spawn } = require('node:child_process')

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run (script, quiet) {
  const started = Date.now()
  const child = spawn(npm, ['run', '--silent', script], { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
  let output = ''
  if (quiet) {
    child.stdout.setEncoding('utf8').on('data', (chunk) => { output += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk) => { output += chunk })
  }
  return new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ script, ok: code === 0, code: code ?? signal, output, seconds: (Date.now() - started) / 1000 }))
  })
}

async function main () {
  const checks = [run('lint', true), run('test:types', true)]
  const suite = await run('test:unit', false)
  let ok = suite.ok
  for (const check of await Promise.all(checks)) {
    if (!check.ok) {
      ok = false
      process.stdout.write(check.output)
    }
    console.log(`${check.script}: ${check.ok ? 'ok' : `FAILED (exit ${check.code})`} in ${check.seconds.toFixed(1)} s`)
  }
  console.log(`test:unit: ${suite.ok ? 'ok' : `FAILED (exit ${suite.code})`} in ${suite.seconds.toFixed(1)} s`)
  process.exitCode = ok ? 0 : 1
}

main()
