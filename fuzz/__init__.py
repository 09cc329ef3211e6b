"""Coverage-guided fuzzing of jobd's 9P front (atheris): ``fuzz_wire.py`` (the decoder) and
``fuzz_session.py`` (sessions over a real core). ``fuzz/corpus/`` keeps the inputs that ever
failed; CI replays them (tests/ninep/test_fuzz_corpus.py). Run ``nox -s fuzz`` for 10^6 inputs."""
