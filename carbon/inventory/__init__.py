"""The equipment inventory (issue 17) built from stored `inventory` points, its lifetimes and
obsolescence, and the emissions of making the equipment (scope 3, immobilisations).

Pure data and maths on `Point`s like the rest of carbon/: the CLI adapter (cli.py) is the only
module that reads the agent configuration and the sinks.
"""
