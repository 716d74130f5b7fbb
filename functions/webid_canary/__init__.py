"""webid-canary: predicts, probes and explains AWS web identity federation."""

__version__ = "0.1.0"
