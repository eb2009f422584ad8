"""Coverage-guided fuzz harnesses (atheris) for the decoder, the verifier, the request parser,
the discharge path and the proof reader. How to run them: ``fuzz/README.md``."""
