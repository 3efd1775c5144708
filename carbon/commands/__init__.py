"""The command layer of carbon/: argparse subcommands and the glue between the agent's
configuration and sinks and carbon's maths (report, import, recompute, factors, inventory).

The rest of carbon/ computes and reads files; only these modules load a configuration, build
sinks or write to them.
"""
