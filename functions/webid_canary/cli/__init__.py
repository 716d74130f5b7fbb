"""The command-line shell: parses arguments and renders; the logic lives in the service and the core."""
