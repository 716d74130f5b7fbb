"""The pure core: values in, values out. Standard library only (plus PyJWT's unverified decoding)."""
