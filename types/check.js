'use strict'
// `npm run test:types`, second half: the compile-only tests of what only the
// installed node-redis major has (types/v4 for 4, types/v5 for 5 and 6).
const { execFileSync } = require('node:child_process')
const { readFileSync } = require('node:fs')
const { dirname, join } = require('node:path')

const { version } = JSON.parse(readFileSync(join(dirname(require.resolve('redis')), '..', 'package.json'), 'utf8'))
const folder = Number(version.split('.')[0]) >= 5 ? 'v5' : 'v4'
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', join(__dirname, folder, 'tsconfig.json')], { stdio: 'inherit' })
