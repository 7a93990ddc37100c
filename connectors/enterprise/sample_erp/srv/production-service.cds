using { sap.erp as erp } from '../db/schema';

// OData V4 at /odata/v4/production, V2 at /odata/v2/production (the V2 adapter).
// Server-driven paging: 1,000 entities a page at most, $top or not.
@path: 'production'
@requires: 'authenticated-user'
@cds.query.limit: { default: 1000, max: 1000 }
service ProductionService {
  entity ProductionOrders as projection on erp.ProductionOrders actions {
    // CREATED -> RELEASED (a RELEASED order stays so); a COMPLETED order: 409 ORDER_COMPLETED.
    action release() returns ProductionOrders;
  };
  entity ProductionOrderComponents as projection on erp.ProductionOrderComponents;
  entity MaterialStock as projection on erp.MaterialStock;
  entity ProductionConfirmations as projection on erp.ProductionConfirmations;
  // 409 DUPLICATE_CLIENT_REFERENCE for a used ClientReference, 400 ORDER_NOT_FOUND.
  entity MaterialRequests as projection on erp.MaterialRequests;
  entity Customers as projection on erp.Customers;
  entity SalesOrders as projection on erp.SalesOrders;
  entity SalesOrderItems as projection on erp.SalesOrderItems;
  entity MaintenanceRequests as projection on erp.MaintenanceRequests;
  @readonly entity Readings as projection on erp.Readings;

  // Adds Quantity (negative: an issue) to the stock of Material in Plant; 409
  // INSUFFICIENT_STOCK when the stock would fall below zero.
  action postGoodsMovement(Material : String(40), Plant : String(4), Quantity : Decimal(13, 3)) returns MaterialStock;
  // The unrestricted stock of Material in Plant (0 when there is none).
  function checkAvailability(Material : String(40), Plant : String(4)) returns Decimal(13, 3);
}
