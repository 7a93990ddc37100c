// Rules of the sample ERP. Errors are CAP errors: an OData error body with a code, e.g.
// {"error":{"code":"ORDER_COMPLETED","message":"..."}} and the status given here.
const cds = require('@sap/cds')

module.exports = class ProductionService extends cds.ApplicationService {
  init() {
    const { ProductionOrders, MaterialStock, ProductionConfirmations, Customers, SalesOrders } =
      this.entities
    const db = cds.db

    // The ETag of a production order is Version: one more on every change, whoever makes
    // it (PATCH/PUT/MERGE through the service, or an action through the database).
    const versioned = new Set(['sap.erp.ProductionOrders', ProductionOrders.name])
    db.before('UPDATE', (req) => {
      if (!versioned.has(req.target?.name)) return
      const update = req.query.UPDATE
      update.with = { ...(update.with || {}), Version: { xpr: [{ ref: ['Version'] }, '+', { val: 1 }] } }
      if (update.data) delete update.data.Version
    })

    this.on('release', ProductionOrders, async (req) => {
      const order = await SELECT.one.from(req.subject)
      if (!order) return req.reject({ status: 404, code: 'ORDER_NOT_FOUND', message: 'Production order does not exist' })
      if (order.Status === 'COMPLETED') {
        return req.reject({
          status: 409,
          code: 'ORDER_COMPLETED',
          message: `Production order ${order.ID} is completed and cannot be released`,
        })
      }
      if (order.Status !== 'RELEASED') await UPDATE(req.subject).with({ Status: 'RELEASED' })
      return SELECT.one.from(req.subject)
    })

    this.before('CREATE', ProductionConfirmations, async (req) => {
      const { OrderID, ClientReference } = req.data
      if (ClientReference) {
        const seen = await SELECT.one.from(ProductionConfirmations).columns('ID').where({ ClientReference })
        if (seen) {
          return req.reject({
            status: 409,
            code: 'DUPLICATE_CLIENT_REFERENCE',
            message: `A confirmation with ClientReference ${ClientReference} exists: ${seen.ID}`,
            target: 'ClientReference',
          })
        }
      }
      const order = await SELECT.one.from(ProductionOrders).where({ ID: OrderID })
      if (!order) {
        return req.reject({ status: 400, code: 'ORDER_NOT_FOUND', message: `Production order ${OrderID} does not exist`, target: 'OrderID' })
      }
      if (order.Status === 'COMPLETED') {
        return req.reject({ status: 409, code: 'ORDER_COMPLETED', message: `Production order ${OrderID} is completed` })
      }
      if (order.Status !== 'RELEASED') {
        return req.reject({ status: 409, code: 'ORDER_NOT_RELEASED', message: `Production order ${OrderID} is not released` })
      }
    })

    this.after('CREATE', ProductionConfirmations, async (confirmation) => {
      const { OrderID, Yield = 0, Scrap = 0 } = confirmation
      await UPDATE(ProductionOrders, OrderID).with({
        ConfirmedYield: { '+=': Number(Yield) || 0 },
        ConfirmedScrap: { '+=': Number(Scrap) || 0 },
      })
    })

    this.before('CREATE', SalesOrders, async (req) => {
      const { CustomerID, Items } = req.data
      const customer = await SELECT.one.from(Customers).where({ ID: CustomerID })
      if (!customer) {
        return req.reject({ status: 400, code: 'CUSTOMER_NOT_FOUND', message: `Customer ${CustomerID} does not exist`, target: 'CustomerID' })
      }
      if (Array.isArray(Items) && Items.length) {
        req.data.NetAmount = Items.reduce((sum, i) => sum + Number(i.Quantity || 0) * Number(i.NetPrice || 0), 0)
      }
      const amount = Number(req.data.NetAmount || 0)
      const balance = Number(customer.OutstandingBalance) + amount
      if (customer.CreditStatus === 'BLOCKED' || balance > Number(customer.CreditLimit)) {
        return req.reject({
          status: 409,
          code: 'CREDIT_LIMIT_EXCEEDED',
          message: `Customer ${CustomerID}: credit limit ${customer.CreditLimit} would be exceeded (${balance})`,
        })
      }
      await UPDATE(Customers, CustomerID).with({ OutstandingBalance: { '+=': amount } })
    })

    this.on('postGoodsMovement', async (req) => {
      const { Material, Plant } = req.data || {}
      const quantity = Number(req.data?.Quantity)
      if (!Material || !Plant || !Number.isFinite(quantity)) {
        return req.reject({ status: 400, code: 'INVALID_MOVEMENT', message: 'Material, Plant and a numeric Quantity are required' })
      }
      const stock = await SELECT.one.from(MaterialStock).where({ Material, Plant })
      const after = Number(stock?.Quantity ?? 0) + quantity
      if (after < 0) {
        return req.reject({
          status: 409,
          code: 'INSUFFICIENT_STOCK',
          message: `Stock of ${Material} in plant ${Plant} is ${stock?.Quantity ?? 0}, cannot issue ${-quantity}`,
        })
      }
      if (stock) await UPDATE(MaterialStock, { Material, Plant }).with({ Quantity: after })
      else await INSERT.into(MaterialStock).entries({ Material, Plant, Quantity: after })
      return SELECT.one.from(MaterialStock).where({ Material, Plant })
    })

    this.on('checkAvailability', async (req) => {
      const { Material, Plant } = req.data || {}
      const stock = await SELECT.one.from(MaterialStock).columns('Quantity').where({ Material, Plant })
      return Number(stock?.Quantity ?? 0)
    })

    return super.init()
  }
}
