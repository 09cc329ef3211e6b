"""Coverage-guided fuzzing of jobd's 9P front (atheris): ``fuzz_wire.py`` (the decoder),
``fuzz_session.py`` (request sequences against sessions over a real core), ``fuzz_server.py``
(raw frames into a real server connection), ``fuzz_all.py`` (all three in one process: CI's short
pass). ``fuzz/corpus/{wire,session,server}/`` keep the inputs that ever failed; CI replays them
(tests/ninep/test_fuzz_corpus.py). ``nox -s fuzz`` runs 10^6 inputs of each target."""
