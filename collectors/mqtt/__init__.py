"""MQTT and LoRaWAN collector: ChirpStack v4, The Things Stack v3 and generic JSON over MQTT.

`collector.build_sources(config, metrics, problems, state_dir)` gives one `MqttSource` per
configured broker, for the runtime to run next to the SNMP scheduler. See README.md in this
folder. Nothing is imported here: the settings and configuration checks load without aiomqtt.
"""
