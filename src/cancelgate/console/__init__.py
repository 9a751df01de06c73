"""The operator console at /console: server-rendered pages for the installation's operators."""
