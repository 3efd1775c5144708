"""What the tests stand on: real servers, their ports and TLS material, stand-ins, data sets."""
