"""The application layer: ports, the cycle, the drift pass, reporting and the monitor. Imports core, never an
adapter or a shell."""
