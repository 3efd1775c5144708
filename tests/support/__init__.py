"""What the tests stand on: real servers run as subprocesses on 127.0.0.1 (DESIGN.md section 9),
stand-ins for what no real server can do on demand, and data sets.

ports (free ports, who holds one), process (a server's lifecycle, ServerError), http_client,
tls (throwaway certificates), snmp_probe (snmpget, raw v2c GET); one module per server:
snmpsim, snmpd, mosquitto, influxdb1, victoriametrics; standin (aiohttp stand-ins),
grafana_data (a synthetic day for the previews), grafana_queries (Grafana's interpolation).
"""
