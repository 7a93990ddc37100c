"""PLC adapters behind the PLC port:
Modbus (pymodbus) and OPC-UA (asyncua), and the plant simulator.
"""
