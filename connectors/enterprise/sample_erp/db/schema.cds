// The sample ERP's data model: production, stock, sales and maintenance, SAP-style names.
namespace sap.erp;

using { managed, cuid } from '@sap/cds/common';

type Quantity : Decimal(13, 3);
type Amount   : Decimal(15, 2);

entity ProductionOrders : managed {
  key ID             : String(12);
      Material       : String(40) not null;
      Plant          : String(4) not null;
      // The line (work center) the order runs on, e.g. LINE1.
      WorkCenter     : String(8);
      Quantity       : Quantity not null;
      Unit           : String(3) default 'PC';
      @assert.range
      Status         : String(10) enum { CREATED; RELEASED; COMPLETED; } default 'CREATED';
      ScheduledStart : DateTime;
      ConfirmedYield : Quantity default 0;
      ConfirmedScrap : Quantity default 0;
      // The ETag: incremented by srv/production-service.js on every change (modifiedAt
      // has millisecond resolution, so two quick updates could share it).
      @odata.etag @readonly
      Version        : Integer default 1;
}

// The components an order consumes (its bill of materials, exploded): stock of each in
// Plant decides whether the order can start.
entity ProductionOrderComponents {
  key OrderID          : String(12);
  key Material         : String(40);
      Plant            : String(4) not null;
      RequiredQuantity : Quantity not null;
      Unit             : String(3) default 'PC';
}

// Requests to bring a missing component to the line (a reservation, in SAP terms).
@assert.unique: { ClientReference: [ClientReference] }
entity MaterialRequests : cuid, managed {
  OrderID         : String(12) not null;
  Material        : String(40) not null;
  Plant           : String(4) not null;
  Quantity        : Quantity not null;
  Status          : String(10) default 'OPEN';
  // The hub's idempotency key: a second request with the same reference is refused.
  ClientReference : String(100);
}

entity MaterialStock {
  key Material : String(40);
  key Plant    : String(4);
      Quantity : Quantity default 0;
      Unit     : String(3) default 'PC';
}

@assert.unique: { ClientReference: [ClientReference] }
entity ProductionConfirmations : cuid, managed {
  OrderID         : String(12) not null;
  Yield           : Quantity default 0;
  Scrap           : Quantity default 0;
  StartedAt       : DateTime;
  FinishedAt      : DateTime;
  // The hub's idempotency key: a second confirmation with the same reference is refused.
  ClientReference : String(100);
}

entity Customers : managed {
  key ID                 : String(10);
      Name               : String(80) not null;
      CreditLimit        : Amount default 0;
      OutstandingBalance : Amount default 0;
      Currency           : String(3) default 'EUR';
      @assert.range
      CreditStatus       : String(10) enum { OK; WARNING; BLOCKED; } default 'OK';
}

entity SalesOrders : managed {
  key ID         : String(10);
      CustomerID : String(10) not null;
      OrderDate  : Date;
      NetAmount  : Amount default 0;
      Currency   : String(3) default 'EUR';
      Status     : String(10) default 'OPEN';
      Customer   : Association to Customers on Customer.ID = CustomerID;
      Items      : Composition of many SalesOrderItems on Items.SalesOrder = $self;
}

entity SalesOrderItems {
  key SalesOrder : Association to SalesOrders;
  key ItemNo     : Integer;
      Material   : String(40) not null;
      Quantity   : Quantity not null;
      Unit       : String(3) default 'PC';
      NetPrice   : Amount default 0;
}

entity MaintenanceRequests : cuid, managed {
  Equipment   : String(30) not null;
  Description : String(200);
  @assert.range: [1, 4]
  Priority    : Integer default 3;
  Status      : String(10) default 'OPEN';
}

// 12,000 rows generated at server start (srv/seed.js), for reads across many pages.
entity Readings {
  key ID             : Integer;
      Equipment      : String(30);
      Plant          : String(4);
      Characteristic : String(20);
      Value          : Double;
      Unit           : String(8);
      RecordedAt     : DateTime;
      RecordedOn     : Date;
}
