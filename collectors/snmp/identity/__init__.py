"""Equipment identity read from the network itself (issue 17): ENTITY-MIB, UPS-MIB, vendors'
identity scalars and the system group become `inventory` points once a day, and `event`
points when a part appears, disappears, is swapped or changes firmware.

Kept apart from the metric profiles (collectors/snmp/profiles) because identity is read at a
slow cadence, mostly strings and dates, and needs normalising (empty serials, placeholder dates)
before anything is shown as data.
"""
