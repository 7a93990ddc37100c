// Rules of the sample ERP. Errors are CAP errors: an OData error body with a code, e.g.
// {"error":{"code":"ORDER_COMPLETED","message":"..."}} and the status given here.
const cds = require('@sap/cds')

module.exports = class ProductionService extends cds.ApplicationService {
  init() {
    const { ProductionOrders, ProductionOrderComponents, MaterialStock, ProductionConfirmations, MaterialRequests, Customers, SalesOrders } =
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

    // A second write with the same ClientReference (the hub's idempotency key) is refused
    // with 409: the caller learns that its first attempt went through. (req.reject throws.)
    const refuseDuplicate = async (req, entity, what) => {
      const { ClientReference } = req.data
      if (!ClientReference) return
      const seen = await SELECT.one.from(entity).columns('ID').where({ ClientReference })
      if (!seen) return
      req.reject({
        status: 409,
        code: 'DUPLICATE_CLIENT_REFERENCE',
        message: `A ${what} with ClientReference ${ClientReference} exists: ${seen.ID}`,
        target: 'ClientReference',
      })
    }

    this.before('CREATE', ProductionConfirmations, async (req) => {
      await refuseDuplicate(req, ProductionConfirmations, 'confirmation')
      const { OrderID } = req.data
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

    // A confirmation posts its goods movements in the same transaction, as SAP's
    // confirmation with automatic goods receipt and backflush does: the yield into stock
    // of the order's material, the components out in proportion to what was produced.
    // So a confirmation refused as a duplicate (its ClientReference) moves no stock twice.
    this.after('CREATE', ProductionConfirmations, async (confirmation) => {
      const { OrderID, Yield = 0, Scrap = 0 } = confirmation
      const produced = (Number(Yield) || 0) + (Number(Scrap) || 0)
      const order = await SELECT.one.from(ProductionOrders).where({ ID: OrderID })
      await UPDATE(ProductionOrders, OrderID).with({
        ConfirmedYield: { '+=': Number(Yield) || 0 },
        ConfirmedScrap: { '+=': Number(Scrap) || 0 },
      })
      await moveStock(order.Material, order.Plant, Number(Yield) || 0)
      const components = await SELECT.from(ProductionOrderComponents).where({ OrderID })
      const share = Number(order.Quantity) > 0 ? produced / Number(order.Quantity) : 0
      for (const c of components) {
        await moveStock(c.Material, c.Plant, -Number(c.RequiredQuantity) * share)
      }
    })

    async function moveStock(Material, Plant, quantity) {
      if (!quantity) return
      const stock = await SELECT.one.from(MaterialStock).where({ Material, Plant })
      const after = Math.max(0, Number(stock?.Quantity ?? 0) + quantity)
      if (stock) await UPDATE(MaterialStock, { Material, Plant }).with({ Quantity: after })
      else await INSERT.into(MaterialStock).entries({ Material, Plant, Quantity: after })
    }

    this.before('CREATE', MaterialRequests, async (req) => {
      await refuseDuplicate(req, MaterialRequests, 'material request')
      const { OrderID, Quantity } = req.data
      if (!(Number(Quantity) > 0)) {
        return req.reject({ status: 400, code: 'INVALID_QUANTITY', message: 'Quantity must be above zero', target: 'Quantity' })
      }
      const order = await SELECT.one.from(ProductionOrders).columns('ID').where({ ID: OrderID })
      if (!order) {
        return req.reject({ status: 400, code: 'ORDER_NOT_FOUND', message: `Production order ${OrderID} does not exist`, target: 'OrderID' })
      }
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
