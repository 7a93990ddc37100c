"""External-system adapters (OPC-UA, Modbus, MQTT, OData, EVM): one module per system."""
