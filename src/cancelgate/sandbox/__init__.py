"""The sandbox: fixtures on demand and test clocks, where the installation's sandbox is on."""
