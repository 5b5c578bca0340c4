'use strict'

module.exports = [
  ...require('neostandard')({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**']
  }),
  {
    // The plugin writes only through Fastify's logger, which the tests' secret guard reads.
    files: ['lib/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': ['error',
        { object: 'process', property: 'stdout', message: 'log through Fastify\'s logger' },
        { object: 'process', property: 'stderr', message: 'log through Fastify\'s logger' },
        { object: 'process', property: 'emitWarning', message: 'log through Fastify\'s logger' }]
    }
  }
]
