"""Built-in labeled music for the demo: a fast synthesizer and a cached dataset generator."""
