// The bulk entity set: 12,000 Readings made at start (not a large CSV in git), the same
// every time: ID 1..12000, one a minute from 2025-01-01T00:00:00Z.
const cds = require('@sap/cds')

const COUNT = 12000
const CHARACTERISTICS = [
  ['TEMPERATURE', 'CEL', 60, 15],
  ['PRESSURE', 'BAR', 4, 1.5],
  ['VIBRATION', 'MMS', 2.5, 2],
]

module.exports = async function seedReadings() {
  const start = Date.UTC(2025, 0, 1)
  const rows = []
  for (let i = 1; i <= COUNT; i++) {
    const [Characteristic, Unit, base, spread] = CHARACTERISTICS[i % CHARACTERISTICS.length]
    const at = new Date(start + (i - 1) * 60_000)
    rows.push({
      ID: i,
      Equipment: `PUMP-${String((i % 20) + 1).padStart(2, '0')}`,
      Plant: i % 2 ? '1000' : '2000',
      Characteristic,
      Value: Math.round((base + spread * Math.sin(i / 7)) * 1000) / 1000,
      Unit,
      RecordedAt: at.toISOString().replace('.000Z', 'Z'),
      RecordedOn: at.toISOString().slice(0, 10),
    })
  }
  await cds.db.run(DELETE.from('sap.erp.Readings'))
  await cds.db.run(INSERT.into('sap.erp.Readings').entries(rows))
  return COUNT
}
