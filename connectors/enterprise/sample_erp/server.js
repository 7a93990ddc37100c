// The sample ERP's server: CAP's own (cds-serve finds this file), with the Gateway-like
// front (srv/gateway.js) before the services and the OData V2 adapter, and the bulk
// Readings made once the services are served. PORT chooses the port; CSRF=off turns the
// CSRF check off.
const cds = require('@sap/cds')
const cov2ap = require('@cap-js-community/odata-v2-adapter')
const gateway = require('./srv/gateway')
const seedReadings = require('./srv/seed')

cds.on('bootstrap', (app) => {
  app.use(gateway.hooks)
  app.use(gateway.faults)
  app.use(gateway.bearer)
  app.use(gateway.csrf)
  // /odata/v2/<service> -> /odata/v4/<service>; like SAP Gateway, a V2 $batch goes on
  // after a failed change set (V4 multipart stops unless Prefer: odata.continue-on-error).
  app.use(cov2ap({ continueOnError: true }))
})

cds.on('served', async () => {
  const count = await seedReadings()
  gateway.state.ready = true
  cds.log('sample-erp').info(`seeded ${count} Readings`)
})

// EXIT_WITH_PARENT=1 (the hub's launcher sets it): the service runs in a session of its
// own, so a test process or `hub demo` killed outright could not take it along; it
// leaves by itself once the process that started it is gone.
if (process.env.EXIT_WITH_PARENT === '1') {
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0)
  }, 1000).unref()
}

cds.on('listening', ({ url }) => {
  console.log(`sample ERP ready at ${url} (OData V4 /odata/v4/production, V2 /odata/v2/production, CSRF ${gateway.csrfOn ? 'on' : 'off'})`)
})

module.exports = cds.server
