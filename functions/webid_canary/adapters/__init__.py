"""The only code that talks to the world: AWS, issuers, token sources. Raw answers become core types here."""
