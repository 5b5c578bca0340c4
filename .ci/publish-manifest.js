'use strict'

// `npm pack` / `npm publish` ship the package.json on disk. The repository
// keeps a `prepare` script (it builds dist/ after `npm ci` and when the
// package is installed from a git URL), but a published package must not
// carry a script that a user's install would run: `prepack` strips it from
// package.json (keeping the original aside) and `postpack` puts it back.

const { existsSync, readFileSync, renameSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const file = join(__dirname, '..', 'package.json')
const kept = join(__dirname, '..', '.package.json.orig')
// Scripts npm runs when a package is installed (or prepared from git / a folder).
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare']

const command = process.argv[2]
if (command === 'strip') {
  // A pack that died before postpack left the original aside: keep that one.
  if (!existsSync(kept)) writeFileSync(kept, readFileSync(file))
  const manifest = JSON.parse(readFileSync(kept, 'utf8'))
  for (const name of INSTALL_SCRIPTS) delete manifest.scripts[name]
  // Through a rename, so that a process reading package.json meanwhile never sees half a file.
  writeFileSync(`${file}.tmp`, JSON.stringify(manifest, null, 2) + '\n')
  renameSync(`${file}.tmp`, file)
} else if (command === 'restore') {
  if (existsSync(kept)) renameSync(kept, file)
} else {
  throw new Error('usage: node .ci/publish-manifest.js strip|restore')
}
